"""aiokafka client settings from a ``kafka`` connection: servers, TLS, SASL.

Shared by the Kafka source (consumer) and the ``kafka:`` destination (producer). Relative
certificate paths resolve against the config file's directory. aiokafka logs every failed
request of a broker outage at ERROR; the source reports connection changes itself, once,
so aiokafka's own logger is kept to CRITICAL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from eventhub.config.loader import LoadedConfig
from eventhub.config.models import KafkaConnection

log = structlog.get_logger("eventhub.kafka")

STOP_TIMEOUT = 10.0


async def stop_quietly(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    """Stop an aiokafka client within ``STOP_TIMEOUT``, whatever state the brokers are in."""
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            await client.stop()
    except (KafkaError, OSError, TimeoutError):
        pass
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled
        # With the broker gone, aiokafka lets the cancellation of its own pending requests
        # out of stop(). It has stopped all the same; taken for ours, it would end the
        # caller's task (a mapping's, before it could report that it finished).
        log.debug("aiokafka raised CancelledError while stopping; it is stopped")


def quiet_aiokafka() -> None:
    """Silence aiokafka's per-request error logs (idempotent)."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def client_options(connection: KafkaConnection, loaded: LoadedConfig) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaConsumer / AIOKafkaProducer."""
    options: dict[str, Any] = {
        "bootstrap_servers": connection.servers,
        "client_id": connection.client_id,
        "security_protocol": connection.security_protocol,
    }
    if connection.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context  # noqa: PLC0415 - only with TLS

        def path(value: str | None) -> str | None:
            return None if value is None else str(loaded.resolve(value))

        options["ssl_context"] = create_ssl_context(
            cafile=path(connection.ssl_cafile),
            certfile=path(connection.ssl_certfile),
            keyfile=path(connection.ssl_keyfile),
        )
    if connection.security_protocol.startswith("SASL"):
        password = connection.sasl_password
        options["sasl_mechanism"] = connection.sasl_mechanism
        options["sasl_plain_username"] = connection.sasl_username
        options["sasl_plain_password"] = None if password is None else password.get_secret_value()
    return options


def describe(connection: KafkaConnection) -> str:
    """The servers, for messages (never credentials)."""
    return ",".join(connection.servers)
