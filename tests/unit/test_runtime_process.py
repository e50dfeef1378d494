"""The process runtime with real worker processes: results, logs, cold/warm, failures."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from eventhub.metrics import Metrics
from eventhub.runtime.concurrency import Limiter
from eventhub.runtime.context import ClientContext, FunctionIdentity, LambdaContext
from eventhub.runtime.environment import EnvironmentSpec
from eventhub.runtime.function import FunctionLimits, FunctionRuntime
from eventhub.runtime.logcapture import InvocationLog
from eventhub.runtime.process import EnvironmentClosed, ProcessEnvironment, WorkerSettings
from eventhub.runtime.result import Outcome

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def eventually(predicate: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.02)


class Fn:
    """One function on a ProcessEnvironment, invoked through FunctionRuntime."""

    def __init__(self, env: ProcessEnvironment, runtime: FunctionRuntime, code: Path) -> None:
        self.env = env
        self.runtime = runtime
        self.code = code

    async def __call__(self, event: Any = None, **kwargs: Any) -> Any:
        return await self.runtime.invoke({} if event is None else event, wait=True, **kwargs)


Make = Callable[..., Fn]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    envs: list[ProcessEnvironment] = []

    def build(
        source: str,
        *,
        timeout: float = 5.0,
        memory_mb: int = 128,
        concurrency: int = 2,
        variables: dict[str, str] | None = None,
        settings: WorkerSettings | None = None,
        handler: str = "app.handler",
    ) -> Fn:
        code = tmp_path / f"code{len(envs)}"
        code.mkdir()
        (code / "app.py").write_text(textwrap.dedent(source))
        module, attribute = handler.rsplit(".", 1)
        spec = EnvironmentSpec(
            function="fn",
            handler=handler,
            module=module,
            attribute=attribute,
            code_dir=code,
            variables=variables or {},
            timeout=timeout,
            memory_mb=memory_mb,
            max_concurrency=concurrency,
        )
        env = ProcessEnvironment(spec, settings)
        envs.append(env)
        identity = FunctionIdentity("fn", ARN, str(memory_mb), "/aws/lambda/fn")
        limits = FunctionLimits(timeout, memory_mb, None, 6 * 1024 * 1024)
        runtime = FunctionRuntime(
            identity, limits, env, Limiter(concurrency), Metrics().function_stats("fn")
        )
        return Fn(env, runtime, code)

    yield build
    for env in envs:
        await env.aclose()


async def test_def_handler_gets_event_context_env_and_cwd(make: Make) -> None:
    fn = make(
        """
        import os
        def handler(event, context):
            return {
                "event": event,
                "pid": os.getpid(),
                "cwd": os.getcwd(),
                "var": os.environ["GREETING"],
                "name": context.function_name,
                "arn": context.invoked_function_arn,
                "memory": context.memory_limit_in_mb,
                "stream": context.log_stream_name,
                "request_id": context.aws_request_id,
                "remaining": context.get_remaining_time_in_millis(),
                "custom": context.client_context.custom,
                "app_title": context.client_context.client.app_title,
                "identity": context.identity.cognito_identity_id,
            }
        """,
        variables={"GREETING": "hello"},
    )
    client = ClientContext.from_json({"client": {"app_title": "t"}, "custom": {"k": 1}})
    result = await fn({"a": [1, "b"]}, client_context=client, request_id="req-1")
    assert result.ok, result.value
    value = result.value
    assert value["event"] == {"a": [1, "b"]}
    assert value["pid"] != os.getpid()
    assert Path(value["cwd"]) == fn.code
    assert value["var"] == "hello"
    assert (value["name"], value["arn"], value["memory"]) == ("fn", ARN, "128")
    assert value["stream"] == fn.runtime._stream_name
    assert value["request_id"] == "req-1"
    assert 0 < value["remaining"] <= 5000
    assert (value["custom"], value["app_title"], value["identity"]) == ({"k": 1}, "t", None)


async def test_async_handler_runs_on_one_loop_per_worker(make: Make) -> None:
    fn = make(
        """
        import asyncio, os
        async def handler(event, context):
            await asyncio.sleep(0)
            return {"pid": os.getpid(), "loop": id(asyncio.get_running_loop())}
        """
    )
    first, second = await fn(), await fn()
    assert first.ok
    assert second.ok
    assert first.value["pid"] != os.getpid()
    assert first.value == second.value  # same worker, same loop: warm


async def test_output_is_captured_with_the_request_id(make: Make) -> None:
    fn = make(
        """
        import logging, os, subprocess, sys
        def handler(event, context):
            print("printed", 1)
            print("to stderr", file=sys.stderr)
            logging.getLogger("app").warning("careful %s", "now")
            context.log("via context")
            os.write(1, b"raw fd write\\n")
            subprocess.run(["echo", "from a child"], check=True)
            sys.stdout.write("no newline")
            return "done"
        """
    )
    result = await fn(request_id="rid-42")
    assert result.ok
    lines = result.log_tail.splitlines()
    assert "printed 1" in lines
    assert "to stderr" in lines
    assert "via context" in lines
    assert "no newline" in lines
    warning = next(line for line in lines if line.startswith("[WARNING]"))
    level, stamp, request_id, message = warning.split("\t")
    assert (request_id, message) == ("rid-42", "careful now")
    assert stamp.endswith("Z")
    assert "raw fd write" in lines
    assert "from a child" in lines
    assert not any("eventhub-raw-end" in line for line in lines)


async def test_a_cold_start_that_fails_reports_its_init(make: Make) -> None:
    fn = make(
        """
        import time
        time.sleep(0.3)
        def handler(event, context):
            raise ValueError("boom")
        """
    )
    cold = await fn()
    assert cold.value["errorType"] == "ValueError"
    assert cold.init_ms is not None
    assert cold.init_ms >= 300
    assert "Init Duration" in cold.log_tail


async def test_the_error_line_ends_with_the_exception_as_inline(make: Make) -> None:
    fn = make(
        """
        def handler(event, context):
            raise ValueError("boom message")
        """
    )
    result = await fn()
    [line] = [x for x in result.log_tail.split("\n") if x.startswith("[ERROR]")]
    assert line.startswith("[ERROR] ValueError: boom message\rTraceback (most recent call last):")
    assert line.endswith("\rValueError: boom message")


async def test_cold_start_then_warm_reuse(make: Make) -> None:
    fn = make(
        """
        import os
        print("importing")
        def handler(event, context):
            return os.getpid()
        """
    )
    cold, warm = await fn(), await fn()
    assert cold.init_ms is not None
    assert cold.init_ms > 0
    assert warm.init_ms is None
    assert cold.value == warm.value
    assert "Init Duration" in cold.log_tail
    assert "importing" in cold.log_tail
    assert "Init Duration" not in warm.log_tail
    assert "importing" not in warm.log_tail
    assert fn.env.pids == [cold.value]


async def test_timeout_kills_the_worker_and_its_children(make: Make, tmp_path: Path) -> None:
    fn = make(
        """
        import os, subprocess, time
        def handler(event, context):
            if event.get("hang"):
                child = subprocess.Popen(["sleep", "60"])
                print("child", child.pid, flush=True)
                time.sleep(60)
            return os.getpid()
        """,
        timeout=1.0,
    )
    first = await fn()
    result = await fn({"hang": True})
    assert result.outcome is Outcome.TIMEOUT
    assert result.value["errorType"] == "Sandbox.Timedout"
    assert result.value["errorMessage"] == "Task timed out after 1.00 seconds"
    assert "Status: timeout" in result.log_tail
    child = int(
        next(li for li in result.log_tail.splitlines() if li.startswith("child")).split()[1]
    )
    await eventually(lambda: not alive(first.value) and not alive(child))
    after = await fn()
    assert after.ok
    assert after.value != first.value
    assert after.init_ms is not None  # a new environment: cold start


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("os._exit(3)", "exit status 3"),
        ("sys.exit(2)", "exit status 2"),
        ("sys.exit()", None),
        ("os.kill(os.getpid(), signal.SIGSEGV)", "signal: segmentation fault"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "signal: killed"),
    ],
)
async def test_crash_is_an_exit_error_and_the_worker_is_replaced(
    make: Make, code: str, reason: str | None
) -> None:
    fn = make(
        f"""
        import os, signal, sys
        def handler(event, context):
            if event.get("crash"):
                {code}
            return os.getpid()
        """
    )
    first = await fn()
    result = await fn({"crash": True}, request_id="r-crash")
    assert result.value["errorType"] == "Runtime.ExitError"
    expected = (
        f"RequestId: r-crash Error: Runtime exited with error: {reason}"
        if reason
        else "RequestId: r-crash Error: Runtime exited without providing a reason"
    )
    assert result.value["errorMessage"] == expected
    if "segmentation" in expected:  # what the dying interpreter wrote is in the log
        assert "Fatal Python error: Segmentation fault" in result.log_tail
    assert not alive(first.value)
    after = await fn()
    assert after.ok
    assert after.value != first.value
    assert after.init_ms is not None


async def test_memory_limit_is_enforced(make: Make) -> None:
    fn = make(
        """
        import os
        def handler(event, context):
            data = bytearray(event["mb"] * 1024 * 1024)
            return {"pid": os.getpid(), "size": len(data)}
        """,
        memory_mb=128,
    )
    small = await fn({"mb": 64})
    assert small.ok, small.value
    result = await fn({"mb": 256}, request_id="r-oom")
    assert result.value == {
        "errorMessage": "RequestId: r-oom Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.OutOfMemory",
        "requestId": "r-oom",
        "stackTrace": [],
    }
    await eventually(lambda: not alive(small.value["pid"]))
    after = await fn({"mb": 1})
    assert after.ok
    assert after.value["pid"] != small.value["pid"]


async def test_peak_memory_of_the_worker_is_reported(make: Make) -> None:
    fn = make(
        """
        def handler(event, context):
            data = bytearray(80 * 1024 * 1024)
            data[::4096] = b"x" * len(data[::4096])
            return len(data)
        """,
        memory_mb=256,
    )
    context = LambdaContext(fn.runtime.identity, "r-mem", time.monotonic() + 5, "stream")
    returned = await fn.env.invoke({}, context, InvocationLog("fn", "r-mem"), 5.0)
    assert returned.max_memory_mb is not None
    assert returned.max_memory_mb >= 80


@pytest.mark.parametrize(
    ("source", "handler", "error_type", "message"),
    [
        ("x = 1\n", "missing.handler", "Runtime.ImportModuleError", "Unable to import module"),
        ("def handler(:\n", "app.handler", "Runtime.UserCodeSyntaxError", "Syntax error in"),
        ("x = 1\n", "app.handler", "Runtime.HandlerNotFound", "Handler 'handler' missing"),
        ("raise RuntimeError('no')\n", "app.handler", "Runtime.ImportModuleError", "no"),
    ],
)
async def test_init_errors(
    make: Make, source: str, handler: str, error_type: str, message: str
) -> None:
    fn = make(source, handler=handler)
    result = await fn()
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.value["errorType"] == error_type
    assert message in result.value["errorMessage"]
    await eventually(lambda: fn.env.pids == [])


async def test_init_is_retried_on_the_next_invoke(make: Make) -> None:
    fn = make("raise RuntimeError('not yet')\n")
    assert (await fn()).value["errorType"] == "Runtime.ImportModuleError"
    (fn.code / "app.py").write_text("def handler(event, context):\n    return 'ready'\n")
    result = await fn()
    assert result.ok
    assert result.value == "ready"
    assert result.init_ms is not None


async def test_init_that_outlasts_its_budget_times_out(make: Make) -> None:
    fn = make(
        "import time\ntime.sleep(30)\ndef handler(event, context):\n    return 1\n",
        timeout=1.0,
        settings=WorkerSettings(init_timeout=0.2),
    )
    result = await fn()
    assert result.outcome is Outcome.TIMEOUT
    await eventually(lambda: fn.env.pids == [])


async def test_handler_error_document_keeps_the_worker(make: Make) -> None:
    fn = make(
        """
        import os
        def handler(event, context):
            if event.get("fail"):
                raise ValueError("bad input")
            return os.getpid()
        """
    )
    first = await fn()
    result = await fn({"fail": True}, request_id="r-err")
    assert result.value["errorType"] == "ValueError"
    assert result.value["errorMessage"] == "bad input"
    assert result.value["requestId"] == "r-err"
    frames = result.value["stackTrace"]
    assert frames
    assert all(str(fn.code) in frame for frame in frames)
    assert "[ERROR] ValueError: bad input\rTraceback (most recent call last):\r" in result.log_tail
    assert (await fn()).value == first.value


async def test_results_that_are_not_json(make: Make) -> None:
    fn = make(
        """
        import decimal, os
        def handler(event, context):
            kind = event.get("kind")
            if kind == "set":
                return {1, 2}
            if kind == "bytes":
                return b"raw\\x00bytes"
            if kind == "decimal":
                return {"n": decimal.Decimal("1.5")}
            return os.getpid()
        """
    )
    first = await fn()
    bad = await fn({"kind": "set"})
    assert bad.value["errorType"] == "Runtime.MarshalError"
    assert bad.value["errorMessage"].startswith("Unable to marshal response:")
    raw = await fn({"kind": "bytes"})
    assert raw.ok
    assert raw.payload == b"raw\x00bytes"
    number = await fn({"kind": "decimal"})
    assert number.payload == b'{"n": 1.5}'
    assert (await fn()).value == first.value  # marshal errors keep the worker


def rendezvous(tmp_path: Path) -> str:
    """A handler that returns its pid once ``event["n"]`` invocations run at the same time."""
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    return f"""
import os, pathlib, time
MEETING = pathlib.Path({str(meeting)!r})
def handler(event, context):
    (MEETING / str(os.getpid())).touch()
    while len(list(MEETING.iterdir())) < event["n"]:
        time.sleep(0.01)
    return os.getpid()
"""


async def test_concurrent_invocations_use_one_worker_each(make: Make, tmp_path: Path) -> None:
    fn = make(rendezvous(tmp_path), concurrency=3)
    results = await asyncio.gather(*(fn({"n": 3}) for _ in range(3)))
    pids = {result.value for result in results}
    assert len(pids) == 3
    assert sorted(pids) == fn.env.pids
    again = await asyncio.gather(*(fn({"n": 0}) for _ in range(3)))
    assert {result.value for result in again} <= pids  # warm workers are reused


async def test_idle_workers_beyond_one_are_stopped(make: Make, tmp_path: Path) -> None:
    fn = make(rendezvous(tmp_path), concurrency=2, settings=WorkerSettings(idle_ttl=0.1))
    results = await asyncio.gather(fn({"n": 2}), fn({"n": 2}))
    assert len({result.value for result in results}) == 2
    await eventually(lambda: len(fn.env.pids) == 1)
    assert (await fn({"n": 0})).init_ms is None  # the last one used stays warm


async def test_worker_that_dies_while_idle_is_replaced(make: Make) -> None:
    fn = make("import os\ndef handler(event, context):\n    return os.getpid()\n")
    pid = (await fn()).value
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: fn.env.pids == [])
    after = await fn()
    assert after.ok
    assert after.value != pid


async def test_aclose_kills_workers_and_fails_in_flight_invocations(
    make: Make, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    fn = make(
        f"""
        import os, pathlib, time
        def handler(event, context):
            pathlib.Path({str(started)!r}).write_text(str(os.getpid()))
            time.sleep(60)
        """,
        timeout=60,
    )
    in_flight = asyncio.create_task(fn())
    await eventually(started.exists)
    pid = int(started.read_text())
    await fn.env.aclose()
    result = await in_flight
    assert result.value["errorType"] == "Runtime.ExitError"
    assert result.value["errorMessage"].endswith("signal: killed")
    assert not alive(pid)
    assert fn.env.pids == []
    with pytest.raises(EnvironmentClosed):
        await fn.env.invoke({}, _context(fn), InvocationLog("fn", "r"), 1.0)


def _context(fn: Fn) -> LambdaContext:
    return LambdaContext(fn.runtime.identity, "r", 0.0, "stream")
