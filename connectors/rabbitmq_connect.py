"""Opening robust AMQP connections for a ``rabbitmq`` connection entry (URL, TLS, heartbeat),
with broker failures turned into the hub's two kinds: try again later, or fix the config."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from eventhub.config.models import RabbitMQConnection
from eventhub.sources import QueueSetupError, SourceUnavailable

if TYPE_CHECKING:
    from eventhub.config.loader import LoadedConfig

RECONNECT_INTERVAL = 1.0
CONNECT_TIMEOUT = 10.0


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = URL(url)
    return str(parsed.with_password(None)) if parsed.password else url


def vhost_of(url: str) -> str:
    """The virtual host an AMQP URL names (``/`` when none)."""
    return URL(url).path[1:] or "/"


def ssl_context(conn: RabbitMQConnection, loaded: LoadedConfig) -> ssl.SSLContext | None:
    """A verifying TLS context with the configured CA and client certificate, for amqps."""
    if not conn.url.get_secret_value().startswith("amqps://"):
        return None
    context = ssl.create_default_context(
        cafile=str(loaded.resolve(conn.ssl_cafile)) if conn.ssl_cafile else None
    )
    if conn.ssl_certfile:
        context.load_cert_chain(
            str(loaded.resolve(conn.ssl_certfile)),
            str(loaded.resolve(conn.ssl_keyfile)) if conn.ssl_keyfile else None,
        )
    return context


async def connect(
    conn: RabbitMQConnection, loaded: LoadedConfig, connection_name: str
) -> AbstractRobustConnection:
    """A robust connection (it reconnects by itself after the first success).

    Raises QueueSetupError when the broker refuses the credentials or the virtual host or
    the TLS files cannot be read, SourceUnavailable when it cannot be reached.
    """
    url = conn.url.get_secret_value()
    where = safe_url(url)
    try:
        context = ssl_context(conn, loaded)
    except (OSError, ssl.SSLError) as exc:
        raise QueueSetupError(f"cannot load the TLS files of {where}: {exc}") from None
    try:
        return await aio_pika.connect_robust(
            url,
            ssl_context=context,
            heartbeat=conn.heartbeat,
            reconnect_interval=RECONNECT_INTERVAL,
            timeout=CONNECT_TIMEOUT,
            client_properties={"connection_name": connection_name},
        )
    except aiormq.exceptions.ProbableAuthenticationError as exc:
        raise QueueSetupError(f"RabbitMQ at {where} refused the credentials: {exc}") from None
    except aiormq.exceptions.AMQPConnectionError as exc:
        raise SourceUnavailable(f"cannot reach RabbitMQ at {where}: {exc}") from None
    except aiormq.exceptions.AMQPError:  # the broker closed the handshake: vhost or rights
        raise QueueSetupError(
            f"RabbitMQ at {where} refused the connection: does virtual host "
            f"{vhost_of(url)!r} exist, and may this user use it?"
        ) from None
    except (OSError, TimeoutError) as exc:
        raise SourceUnavailable(f"cannot reach RabbitMQ at {where}: {exc!r}") from None
