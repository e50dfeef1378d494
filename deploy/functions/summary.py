"""One handler for the embedded sources: says what kind of event it got and how big."""

import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    records = event.get("Records") or []
    kind = (
        records[0].get("eventSource")
        if records
        else event.get("source") or event.get("routeKey") or "unknown"
    )
    logger.info("%s: %s event with %d records", context.function_name, kind, len(records))
    return {"function": context.function_name, "kind": kind, "records": len(records)}
