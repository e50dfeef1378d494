"""Brokers for the contract tests (the RabbitMQ node is shared with tests/integration)."""

from __future__ import annotations

from tests.support.rabbitmq import rabbit

__all__ = ["rabbit"]
