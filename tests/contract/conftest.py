"""Brokers for the contract tests (the RabbitMQ node is shared with tests/integration)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rabbitmq import RabbitNode


@pytest.fixture(scope="session")
def rabbit() -> Iterator[RabbitNode]:
    node = RabbitNode.shared()
    try:
        yield node
    finally:
        RabbitNode.release()
