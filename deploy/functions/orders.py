"""Orders from Kafka (self-managed Kafka event): decode each record and process it."""

import base64
import json


def handler(event, context):
    processed = 0
    for partition, records in event["records"].items():
        for record in records:
            order = json.loads(base64.b64decode(record["value"] or b"e30="))
            print(f"order {order.get('id')} from {partition} offset {record['offset']}")
            processed += 1
    return {"processed": processed}
