"""Shared pieces of CLI commands: config lookup, the daemon's address, failing cleanly."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from eventhub.config.errors import ConfigError
from eventhub.config.loader import (
    DEFAULT_CONFIG,
    LoadedConfig,
    load_client_settings,
    load_config,
)
from eventhub.config.models import HubConfig, split_hostport


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


CONFIG_HELP = (
    "config file (default: $EVENTHUB_CONFIG, else ./eventhub.yaml, else config/eventhub.yaml)"
)


def config_path(given: str | None) -> Path:
    """``-c FILE``, else ``$EVENTHUB_CONFIG``, else ./eventhub.yaml, else config/eventhub.yaml."""
    if given:
        return Path(given)
    env = os.environ.get("EVENTHUB_CONFIG")
    if env:
        return Path(env)
    local = Path("eventhub.yaml")
    return local if local.exists() else Path(DEFAULT_CONFIG)


def _found(given: str | None) -> Path:
    path = config_path(given)
    if not path.exists() and not given and not os.environ.get("EVENTHUB_CONFIG"):
        print(
            f"eventhub: no configuration file: neither ./eventhub.yaml nor {DEFAULT_CONFIG} "
            "exists here; give one with -c FILE or $EVENTHUB_CONFIG",
            file=sys.stderr,
        )
        raise SystemExit(1)
    return path


def load(given: str | None) -> LoadedConfig:
    """The configuration, or exit 1 with every problem printed."""
    path = _found(given)
    try:
        return load_config(path)
    except ConfigError as exc:
        fail_config(exc)


def load_client(given: str | None) -> HubConfig:
    """What a client of the running daemon reads from the file: ``hub``'s addresses,
    region and account only (no secrets needed, the rest of the file unchecked)."""
    path = _found(given)
    try:
        return load_client_settings(path)
    except ConfigError as exc:
        fail_config(exc)


def fail_config(exc: ConfigError) -> NoReturn:
    print(exc.render(), file=sys.stderr)
    count = len(exc.issues)
    print(f"eventhub: configuration invalid ({count} problem{'s' * (count != 1)})", file=sys.stderr)
    raise SystemExit(1)


def base_url(address: str) -> str:
    """``http://host:port`` to reach a listener bound to ``address`` from this machine."""
    host, port = split_hostport(address)
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - connecting, not binding
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
