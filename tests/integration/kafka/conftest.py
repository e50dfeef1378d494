"""Kafka integration tests run against a real Tansu broker (session fixture)."""

from tests.support.kafka import kafka_broker, tansu

__all__ = ["kafka_broker", "tansu"]
