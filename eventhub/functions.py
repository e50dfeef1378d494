"""Building function runtimes from the configuration, and replacing them on reload."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from eventhub.config.loader import LoadedConfig
from eventhub.config.models import FunctionConfig
from eventhub.metrics import Metrics
from eventhub.runtime.concurrency import Limiter
from eventhub.runtime.context import FunctionIdentity, log_stream_name
from eventhub.runtime.environment import Environment, EnvironmentSpec
from eventhub.runtime.function import FunctionLimits, FunctionRuntime

log = structlog.get_logger("eventhub.functions")


def function_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


def lambda_variables(
    name: str, config: FunctionConfig, loaded: LoadedConfig, stream: str
) -> dict[str, str]:
    """The environment a handler sees: Lambda's reserved variables, then the function's own."""
    hub = loaded.config.hub
    code_dir = str(loaded.resolve(config.code_dir))
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{config.timeout:g}",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_REGION": hub.region,
        "AWS_DEFAULT_REGION": hub.region,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_RUNTIME_API": "eventhub",
        "LAMBDA_TASK_ROOT": code_dir,
        "LAMBDA_RUNTIME_DIR": code_dir,
        "_HANDLER": config.handler,
        "TZ": ":UTC",
        **config.environment,
    }


def _environment(spec: EnvironmentSpec, runtime: str) -> Environment:
    if runtime == "process":
        from eventhub.runtime.process import ProcessEnvironment  # noqa: PLC0415

        return ProcessEnvironment(spec)
    from eventhub.runtime.inline import InlineEnvironment  # noqa: PLC0415

    return InlineEnvironment(spec)


def _behaviour(config: FunctionConfig) -> FunctionConfig:
    """What a runtime is built from: a new ``description`` alone keeps the runtime."""
    return config.model_copy(update={"description": ""})


CodeStamp = tuple[str, int, int] | None


def code_stamp(config: FunctionConfig, loaded: LoadedConfig) -> CodeStamp:
    """The handler module's file as it is now (path, mtime, size); None if not found.

    A reload rebuilds a function whose stamp changed, so editing a handler and reloading
    runs the new code, as a Lambda deploy would. Modules the handler imports are not
    looked at."""
    module, _ = config.module_and_attribute
    base = loaded.resolve(config.code_dir).joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        try:
            stat = path.stat()
        except OSError:
            continue
        return (str(path), stat.st_mtime_ns, stat.st_size)
    return None


def code_warnings(loaded: LoadedConfig) -> list[str]:
    """Functions whose code is not where the file says (``validate`` warns about them)."""
    warnings = []
    for name, config in loaded.config.functions.items():
        code_dir = loaded.resolve(config.code_dir)
        if not code_dir.is_dir():
            warnings.append(f"functions.{name}.code_dir: no directory {code_dir}")
        elif code_stamp(config, loaded) is None:
            module, _ = config.module_and_attribute
            warnings.append(
                f"functions.{name}.handler: no module {module!r} in {code_dir} (it must then "
                "be importable from the daemon's environment)"
            )
    return warnings


@dataclass(frozen=True, slots=True)
class FunctionsDiff:
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]


class FunctionSet:
    """The hub's function runtimes and the shared concurrency pool."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.shared = Limiter(1)
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.configs: dict[str, FunctionConfig] = {}
        self._stamps: dict[str, CodeStamp] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def apply(self, loaded: LoadedConfig) -> FunctionsDiff:
        """Build runtimes for new and changed functions; keep unchanged ones as they are."""
        config = loaded.config
        reserved = sum(f.reserved_concurrency or 0 for f in config.functions.values())
        self.shared.resize(max(1, config.hub.concurrency - reserved))
        old_runtimes, old_configs = self.runtimes, self.configs
        old = {n: (_behaviour(f), self._stamps.get(n)) for n, f in old_configs.items()}
        now = {n: (_behaviour(f), code_stamp(f, loaded)) for n, f in config.functions.items()}
        diff = FunctionsDiff(
            added=[n for n in config.functions if n not in old_configs],
            changed=[n for n in config.functions if n in old and old[n] != now[n]],
            removed=[n for n in old_configs if n not in config.functions],
            unchanged=[n for n in config.functions if old.get(n) == now[n]],
        )
        runtimes = {name: old_runtimes[name] for name in diff.unchanged}
        # On a reload a module may already be imported (by another function, or before
        # an edit): new and changed functions execute it again, so they get its new code.
        reloading = bool(old_configs)
        for name in diff.added:
            runtimes[name] = self._build(name, config.functions[name], loaded, reimport=reloading)
        for name in diff.changed:
            runtimes[name] = self._build(name, config.functions[name], loaded, reimport=True)
        for name in (*diff.changed, *diff.removed):
            self._retire(old_runtimes[name])
        self.runtimes, self.configs = runtimes, dict(config.functions)
        self._stamps = {n: stamp for n, (_, stamp) in now.items()}
        return diff

    def _build(
        self, name: str, config: FunctionConfig, loaded: LoadedConfig, *, reimport: bool = False
    ) -> FunctionRuntime:
        hub = loaded.config.hub
        arn = function_arn(hub.region, hub.account_id, name)
        identity = FunctionIdentity(
            function_name=name,
            function_arn=arn,
            memory_limit_in_mb=str(config.memory_mb),
            log_group_name=f"/aws/lambda/{name}",
        )
        limiter = (
            self.shared
            if config.reserved_concurrency is None
            else Limiter(config.reserved_concurrency)
        )
        module, attribute = config.module_and_attribute
        stream = log_stream_name()
        return FunctionRuntime(
            identity,
            FunctionLimits(
                config.timeout, config.memory_mb, config.reserved_concurrency, hub.max_sync_payload
            ),
            _environment(
                EnvironmentSpec(
                    function=name,
                    handler=config.handler,
                    module=module,
                    attribute=attribute,
                    code_dir=loaded.resolve(config.code_dir),
                    variables=lambda_variables(name, config, loaded, stream),
                    timeout=config.timeout,
                    memory_mb=config.memory_mb,
                    max_concurrency=max(1, limiter.limit),
                    reimport=reimport,
                ),
                config.runtime,
            ),
            limiter,
            self._metrics.function_stats(name),
            log_stream=stream,
        )

    def _retire(self, runtime: FunctionRuntime) -> None:
        """Close a replaced runtime once its in-flight invocations are done."""

        runtime.retired = True  # calls waiting for a slot go to the new runtime

        async def retire() -> None:
            await runtime.drain(within=runtime.limits.timeout + 1)
            await runtime.environment.aclose()

        task = asyncio.get_running_loop().create_task(retire(), name=f"retire:{runtime.name}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def aclose(self) -> None:
        """Close every environment (after the hub drained its work)."""
        for runtime in self.runtimes.values():
            await runtime.environment.aclose()
        self.runtimes = {}
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=5)
