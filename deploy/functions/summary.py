"""One handler for the embedded sources: says what kind of event it got and how big."""


def handler(event, context):
    records = event.get("Records") or []
    kind = (
        records[0].get("eventSource")
        if records
        else event.get("source") or event.get("routeKey") or "unknown"
    )
    print(f"{context.function_name}: {kind} event with {len(records)} records")
    return {"function": context.function_name, "kind": kind, "records": len(records)}
