"""A plain Lambda handler: ``def handler(event, context)``."""

import json
import os


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    print(f"saying hello to {name}")
    return {
        "message": f"hello, {name}",
        "function": context.function_name,
        "request_id": context.aws_request_id,
        "greeting_style": os.environ.get("GREETING_STYLE", "plain"),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "event": json.loads(json.dumps(event)),
    }
