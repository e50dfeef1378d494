"""An HTTP route handler (API Gateway payload 2.0): ``GET /hello/{name}``."""

import json


def handler(event, context):
    name = (event.get("pathParameters") or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "message": f"hello, {name}",
                "method": event["requestContext"]["http"]["method"],
                "query": event.get("queryStringParameters") or {},
                "request_id": context.aws_request_id,
            }
        ),
    }
