"""The seam between a function and where its handler runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eventhub.runtime.context import LambdaContext
from eventhub.runtime.logcapture import InvocationLog


@dataclass(frozen=True, slots=True)
class EnvironmentSpec:
    """What an execution environment needs to know to load and run a handler."""

    function: str
    handler: str
    module: str
    attribute: str
    code_dir: Path
    variables: dict[str, str]
    timeout: float
    memory_mb: int
    max_concurrency: int
    # A changed function on reload: import its handler module afresh (new code, new
    # module state), as Lambda starts new environments after a configuration change.
    reimport: bool = False


@dataclass(frozen=True, slots=True)
class HandlerReturn:
    """What the handler returned, how many ms of init this invocation paid for and, when
    the handler ran in a process of its own, that process's peak memory (MB)."""

    value: Any
    init_ms: float | None
    max_memory_mb: int | None = None


class Environment(Protocol):
    """Runs one function's handler: imports it once (cold start) and reuses it (warm).

    ``invoke`` returns the handler's value, or raises what the handler raised,
    ``InitError`` when the import fails (retried on the next invoke, as Lambda does),
    ``InvocationTimeout`` when ``budget`` seconds pass (the environment enforces it and
    recovers its capacity), or another ``InvocationFailure`` (crash, blocked loop).
    """

    async def invoke(
        self, event: Any, context: LambdaContext, log: InvocationLog, budget: float
    ) -> HandlerReturn: ...

    async def aclose(self) -> None:
        """Release threads or processes; in-flight invocations are abandoned."""
        ...
