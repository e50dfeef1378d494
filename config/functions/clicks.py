"""A Kinesis stream handler: decodes records and reports failures per item.

Put a record with `eventhub put clicks --key user-1 '{"page": "/home"}'`; a record whose
JSON has `"fail": true` is reported in batchItemFailures, so the stream retries from it and
finally sends its batch info to `out/clicks-failed.jsonl`.
"""

import base64
import json


def handler(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(base64.b64decode(record["kinesis"]["data"]) or b"{}")
        if isinstance(body, dict) and body.get("fail"):
            failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
            continue
        print(f"click on {body.get('page') if isinstance(body, dict) else body!r}"
              f" by {record['kinesis']['partitionKey']}")
    return {"batchItemFailures": failures}
