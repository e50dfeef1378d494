"""Fired by the `heartbeat` schedule with an EventBridge Scheduled Event."""


def handler(event, context):
    print(f"heartbeat due at {event['time']} from {event['resources'][0]}")
    return {"ok": True}
