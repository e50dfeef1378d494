"""Brokers of the operations tests: the session's Tansu (Kafka) and RabbitMQ nodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kafka import kafka_broker
from tests.support.rabbitmq import RabbitNode

__all__ = ["kafka_broker"]


@pytest.fixture(scope="session")
def rabbit() -> Iterator[RabbitNode]:
    node = RabbitNode.shared()
    try:
        yield node
    finally:
        RabbitNode.release()
