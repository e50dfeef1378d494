"""Brokers of the operations tests: the session's Tansu (Kafka) and RabbitMQ nodes."""

from __future__ import annotations

from tests.support.kafka import kafka_broker
from tests.support.rabbitmq import rabbit

__all__ = ["kafka_broker", "rabbit"]
