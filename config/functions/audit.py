"""Receives records from other functions' destinations (``function:audit``)."""


def handler(event, context):
    condition = (
        event.get("requestContext", {}).get("condition") if isinstance(event, dict) else None
    )
    print(f"audit record: condition={condition}")
    return {"recorded": True}
