"""``eventhub invoke --local``: run one handler in this process, like ``sam local invoke``."""

from __future__ import annotations

import sys
from typing import Any

from eventhub.config.loader import LoadedConfig
from eventhub.functions import FunctionSet
from eventhub.logs import configure_logging
from eventhub.metrics import Metrics
from eventhub.runtime.environ import install_environ
from eventhub.runtime.logcapture import install_capture
from eventhub.runtime.result import InvocationResult


async def invoke_locally(
    loaded: LoadedConfig, name: str, event: Any, *, dry_run: bool = False
) -> InvocationResult | None:
    """Invoke ``name`` once (None for a dry run); its log goes to stderr.

    Raises CliError for an unknown function.
    """
    from eventhub.cli.common import CliError  # noqa: PLC0415

    if name not in loaded.config.functions:
        raise CliError(f"function {name!r} is not defined in {loaded.path}")
    if dry_run:
        return None
    configure_logging("console", "info", stream=sys.stderr)
    install_capture()
    install_environ()
    functions = FunctionSet(Metrics())
    functions.apply(loaded)
    try:
        return await functions.runtimes[name].invoke(event, wait=True)
    finally:
        await functions.aclose()
