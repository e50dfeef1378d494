"""AWS event shapes that eventhub hands to Lambda handlers.

One module per AWS shape, each a set of pure functions (no I/O, no asyncio) that return
plain JSON-ready ``dict``s with exactly the field names, nesting and value types AWS uses:

* :mod:`.sqs`, :mod:`.kinesis`, :mod:`.kafka`, :mod:`.rmq` - event-source-mapping batches;
* :mod:`.s3`, :mod:`.scheduled` - asynchronous service notifications;
* :mod:`.apigw` - API Gateway payload 1.0 / 2.0 requests and response mapping;
* :mod:`.records` - destination records (async invocation, stream on-failure);
* :mod:`.errors` - the Python runtime's error documents;
* :mod:`.samples` - ``sam local generate-event``-style samples built with the above.

Nothing is imported here, so importing one builder stays cheap.
"""
