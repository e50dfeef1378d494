"""The RabbitMQ node of the session (shared with tests/contract)."""

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
