"""Orders from Kafka (self-managed Kafka event): decode each record and process it."""

import base64
import json
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    processed = 0
    for partition, records in event["records"].items():
        for record in records:
            order = _decode(record.get("value"))
            logger.info("order %s from %s offset %s", order, partition, record["offset"])
            processed += 1
    return {"processed": processed}


def _decode(value):
    if value is None:
        return None
    raw = base64.b64decode(value)
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
