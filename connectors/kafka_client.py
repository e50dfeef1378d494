"""aiokafka client settings from a ``kafka`` connection: servers, TLS, SASL.

Shared by the Kafka source (consumer) and the ``kafka:`` destination (producer). Relative
certificate paths resolve against the config file's directory. aiokafka logs every failed
request of a broker outage at ERROR; the source reports connection changes itself, once,
so aiokafka's own logger is kept to CRITICAL.
"""

from __future__ import annotations

import logging
from typing import Any

from eventhub.config.loader import LoadedConfig
from eventhub.config.models import KafkaConnection


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
