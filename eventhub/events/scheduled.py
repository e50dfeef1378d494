"""EventBridge rule ``Scheduled Event`` (``source: aws.events``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventhub.events._common import iso_seconds


def rule_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:events:<region>:<account>:rule/<name>``."""
    return f"arn:aws:events:{region}:{account}:rule/{name}"


def scheduled_event(
    *, rule_arn: str, time: datetime, region: str, account: str, event_id: str
) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends: ``detail-type`` ``Scheduled Event``,
    ``detail`` ``{}``, ``time`` in UTC with second precision and ``Z`` (naive = UTC),
    ``resources`` holding the rule ARN.
    """
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso_seconds(time),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
