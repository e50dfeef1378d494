"""An SQS batch handler that reports partial failures, as Lambda recommends."""

import json


def handler(event, context):
    failures = []
    for record in event["Records"]:
        body = record["body"]
        if "fail" in body:
            receives = record["attributes"]["ApproximateReceiveCount"]
            print(f"job {record['messageId']} failed (receive #{receives})")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        try:
            job = json.loads(body)
        except ValueError:
            job = body
        print(f"job done: {job}")
    return {"batchItemFailures": failures}
