"""The RabbitMQ node of the session (shared with tests/contract)."""

from __future__ import annotations

from tests.support.rabbitmq import rabbit

__all__ = ["rabbit"]
