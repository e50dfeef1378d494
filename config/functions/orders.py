"""An ``async def`` handler that fails on demand, to show async retries and destinations."""

import asyncio
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


async def handler(event, context):
    await asyncio.sleep(0.01)
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError(f"order {event.get('id')} cannot be processed")
    logger.info("processed order %s", event.get("id") if isinstance(event, dict) else None)
    return {"status": "processed", "order": event}
