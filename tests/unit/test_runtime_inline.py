"""The inline runtime: sync and async handlers, init, errors, timeouts, marshalling."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from eventhub.runtime.result import Outcome
from tests.support.functions import Functions, process_hooks

ERROR_KEYS = {"errorMessage", "errorType", "stackTrace", "requestId"}


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # capture_logs: structlog's default logger prints to sys.stdout, which is the capture
    # proxy during invocations (the daemon's logger writes to the real stdout instead).
    with process_hooks(monkeypatch), capture_logs():
        yield


@pytest.fixture
async def functions(
    tmp_path: Path, hooks: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Functions]:
    made = Functions(tmp_path, monkeypatch=monkeypatch)
    yield made
    await made.aclose()


KINDS = pytest.mark.parametrize("kind", ["def", "async def"])


# -- running handlers ----------------------------------------------------------------


@KINDS
async def test_handler_result_is_returned_as_json(functions: Functions, kind: str) -> None:
    runtime = functions.runtime(
        f"{kind} handler(event, context):\n    return {{'echo': event, 'n': 1.5, 'ü': None}}\n"
    )
    result = await runtime.invoke({"a": [1, 2]})
    assert result.outcome is Outcome.SUCCESS
    assert result.ok
    assert result.function_error is None
    assert result.value == {"echo": {"a": [1, 2]}, "n": 1.5, "ü": None}
    assert json.loads(result.payload) == result.value
    assert "ü".encode() in result.payload  # ensure_ascii=False, as python3.12+ runtimes


async def test_async_handler_runs_on_the_loop_and_def_in_a_thread(functions: Functions) -> None:
    source = """
        import threading
        def handler(event, context):
            return threading.current_thread().name
        async def ahandler(event, context):
            return threading.current_thread().name
    """
    sync = functions.runtime(source, name="threads")
    asynchronous = functions.runtime(source, name="loop", attribute="ahandler")
    assert (await sync.invoke({})).value.startswith("fn-threads")
    assert (await asynchronous.invoke({})).value == threading.current_thread().name


async def test_none_result_is_json_null(functions: Functions) -> None:
    runtime = functions.runtime("def handler(event, context):\n    pass\n")
    result = await runtime.invoke({})
    assert result.ok
    assert result.payload == b"null"


async def test_callable_object_with_async_call_is_awaited(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        class Handler:
            async def __call__(self, event, context):
                return "awaited"
        handler = Handler()
        """
    )
    assert (await runtime.invoke({})).value == "awaited"


# -- init: import once, Init Duration, import errors -----------------------------------


@KINDS
async def test_handler_module_is_imported_once(
    functions: Functions, kind: str, tmp_path: Path
) -> None:
    marker = tmp_path / "imports.txt"
    runtime = functions.runtime(
        f"""
        with open({str(marker)!r}, "a") as f:
            f.write("x")
        CALLS = []
        {kind} handler(event, context):
            CALLS.append(1)
            return len(CALLS)
        """
    )
    results = [await runtime.invoke({}) for _ in range(3)]
    assert [r.value for r in results] == [1, 2, 3]
    assert marker.read_text() == "x"
    assert results[0].init_ms is not None
    assert results[0].init_ms >= 0
    assert [r.init_ms for r in results[1:]] == [None, None]


@KINDS
@pytest.mark.parametrize("ending", ["raise ValueError('boom')", "return {1, 2}"])
async def test_a_cold_start_that_fails_still_reports_its_init(
    functions: Functions, kind: str, ending: str
) -> None:
    runtime = functions.runtime(
        f"""
        {kind} handler(event, context):
            {ending}
        """
    )
    cold, warm = await runtime.invoke({}), await runtime.invoke({})
    assert cold.outcome is warm.outcome is Outcome.FUNCTION_ERROR
    assert cold.init_ms is not None
    assert "Init Duration" in cold.log_tail
    assert warm.init_ms is None
    assert "Init Duration" not in warm.log_tail


async def test_concurrent_cold_starts_import_once(functions: Functions, tmp_path: Path) -> None:
    marker = tmp_path / "imports.txt"
    runtime = functions.runtime(
        f"""
        with open({str(marker)!r}, "a") as f:
            f.write("x")
        async def handler(event, context):
            return event
        """
    )
    results = await asyncio.gather(*(runtime.invoke(i) for i in range(5)))
    assert [r.value for r in results] == list(range(5))
    assert marker.read_text() == "x"
    assert sum(r.init_ms is not None for r in results) == 1


@pytest.mark.parametrize(
    ("source", "attribute", "error_type", "message"),
    [
        (
            "raise RuntimeError('no database')\n",
            "handler",
            "Runtime.ImportModuleError",
            "Unable to import module '{module}': no database",
        ),
        (
            "import does_not_exist_anywhere\n",
            "handler",
            "Runtime.ImportModuleError",
            "Unable to import module '{module}': No module named 'does_not_exist_anywhere'",
        ),
        (
            "def handler(event, context):\n    return 1\n",
            "missing",
            "Runtime.HandlerNotFound",
            "Handler 'missing' missing on module '{module}'",
        ),
        (
            "handler = 42\n",
            "handler",
            "Runtime.HandlerNotFound",
            "Handler '{module}.handler' is not callable",
        ),
        (
            "def handler(event, context)\n    return 1\n",
            "handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '{module}': ",
        ),
    ],
    ids=["raises", "missing-import", "no-attribute", "not-callable", "syntax"],
)
async def test_init_errors_have_lambdas_error_types(
    functions: Functions, source: str, attribute: str, error_type: str, message: str
) -> None:
    runtime = functions.runtime(source, attribute=attribute)
    module = functions.modules[-1]
    result = await runtime.invoke({}, request_id="req-init")
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.function_error == "Unhandled"
    assert set(result.value) == ERROR_KEYS
    assert result.value["errorType"] == error_type
    assert result.value["errorMessage"].startswith(message.format(module=module))
    assert result.value["requestId"] == "req-init"
    assert "Traceback" not in result.value["errorMessage"]


async def test_failed_init_is_retried_on_the_next_invocation(
    functions: Functions, tmp_path: Path
) -> None:
    flag = tmp_path / "ready"
    runtime = functions.runtime(
        f"""
        import os
        if not os.path.exists({str(flag)!r}):
            raise RuntimeError("not yet")
        def handler(event, context):
            return "ok"
        """
    )
    first = await runtime.invoke({})
    assert first.value["errorType"] == "Runtime.ImportModuleError"
    flag.touch()
    second = await runtime.invoke({})
    assert second.ok, second.value
    assert second.init_ms is not None


async def test_an_import_that_hangs_times_the_invocation_out_and_blocks_nothing_else(
    functions: Functions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventhub.runtime.inline.INIT_LIMIT", 0.0)
    release = tmp_path / "release"
    slow = functions.runtime(
        f"""
        import os, time
        while not os.path.exists({str(release)!r}):
            time.sleep(0.01)
        def handler(event, context):
            return "ready"
        """,
        timeout=0.2,
    )
    other = functions.runtime("async def handler(event, context):\n    return 'other'\n")
    first = await slow.invoke({})
    assert first.value["errorType"] == "Sandbox.Timedout"
    assert first.value["errorMessage"] == "Task timed out after 0.20 seconds"
    assert (await other.invoke({})).value == "other"  # the daemon and other functions go on
    release.touch()  # the import (still running in its thread) finishes
    later = await slow.invoke({})
    assert later.ok, later.value
    assert later.value == "ready"


# -- handler errors --------------------------------------------------------------------


@KINDS
async def test_handler_exception_becomes_the_error_object(functions: Functions, kind: str) -> None:
    runtime = functions.runtime(
        f"""
        class OrderRejected(Exception):
            pass

        def check(order):
            raise OrderRejected("order 7 has no items")

        {kind} handler(event, context):
            check(event)
        """
    )
    module = functions.modules[-1]
    result = await runtime.invoke({"id": 7}, request_id="req-err")
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.function_error == "Unhandled"
    error = result.value
    assert set(error) == ERROR_KEYS
    assert error["errorMessage"] == "order 7 has no items"
    assert error["errorType"] == "OrderRejected"
    assert error["requestId"] == "req-err"
    assert json.loads(result.payload) == error
    # Only the user's frames: the handler, then the function it called.
    trace = error["stackTrace"]
    assert len(trace) == 2, trace
    assert all(f"{module}.py" in frame for frame in trace), trace
    assert "in handler" in trace[0]
    assert "in check" in trace[1]
    assert 'raise OrderRejected("order 7 has no items")' in trace[1]


async def test_exception_with_unprintable_message_still_reports(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        class Weird(Exception):
            def __str__(self):
                raise ValueError("no")
        def handler(event, context):
            raise Weird()
        """
    )
    result = await runtime.invoke({})
    assert result.value["errorType"] == "Weird"
    assert "unprintable" in result.value["errorMessage"]


@KINDS
async def test_handler_that_exits_does_not_stop_the_runtime(
    functions: Functions, kind: str
) -> None:
    runtime = functions.runtime(
        f"""
        import sys
        {kind} handler(event, context):
            if event == "exit":
                sys.exit(3)
            return "alive"
        """
    )
    result = await runtime.invoke("exit", request_id="req-exit")
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert set(result.value) == ERROR_KEYS
    assert result.value["errorType"] == "Runtime.ExitError"
    assert result.value["errorMessage"] == (
        "RequestId: req-exit Error: Runtime exited with error: exit status 3"
    )
    assert (await runtime.invoke("again")).value == "alive"


@KINDS
@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        ("sys.exit()", None),
        ("sys.exit(0)", None),
        ("sys.exit('bye now')", "exit status 1"),
        ("raise KeyboardInterrupt", "signal: interrupt"),
        ("raise GeneratorExit", "exit status 1"),
        ("raise asyncio.CancelledError", "exit status 1"),
    ],
)
async def test_what_would_end_a_lambda_runtime_is_an_exit_error(
    functions: Functions, kind: str, raised: str, reason: str | None
) -> None:
    runtime = functions.runtime(
        f"""
        import asyncio, sys
        {kind} handler(event, context):
            if event == "end":
                {raised}
            return "alive"
        """
    )
    result = await runtime.invoke("end", request_id="req-end")
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.value["errorType"] == "Runtime.ExitError"
    assert result.value["errorMessage"] == (
        f"RequestId: req-end Error: Runtime exited with error: {reason}"
        if reason
        else "RequestId: req-end Error: Runtime exited without providing a reason"
    )
    if "bye" in raised:
        assert "bye now" in result.log_tail
    assert "END RequestId: req-end" in result.log_tail
    assert (await runtime.invoke("again")).value == "alive"


# -- timeouts --------------------------------------------------------------------------


async def test_async_handler_times_out(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        import asyncio
        async def handler(event, context):
            await asyncio.sleep(60)
        """,
        timeout=0.05,
    )
    result = await runtime.invoke({}, request_id="req-slow")
    assert result.outcome is Outcome.TIMEOUT
    assert result.function_error == "Unhandled"
    assert result.value["errorType"] == "Sandbox.Timedout"
    assert result.value["errorMessage"] == "Task timed out after 0.05 seconds"
    assert result.value["requestId"] == "req-slow"
    assert result.duration_ms == pytest.approx(50.0)


async def test_busy_sync_handler_is_interrupted_at_its_timeout(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        STATE = {"finished": 0}
        def handler(event, context):
            if event == "spin":
                while True:
                    pass
            return "next"
        """,
        timeout=0.05,
        reserved=1,
    )
    result = await runtime.invoke("spin")
    assert result.outcome is Outcome.TIMEOUT
    assert result.value["errorMessage"] == "Task timed out after 0.05 seconds"
    assert (await runtime.invoke("go")).value == "next"


async def test_hung_sync_handler_does_not_hold_the_functions_capacity(
    functions: Functions,
) -> None:
    release = threading.Event()
    runtime = functions.runtime(
        """
        import threading
        GATE = threading.Event()
        def handler(event, context):
            if event == "hang":
                GATE.wait()  # blocked in C: cannot be interrupted
            return "served"
        """,
        timeout=0.05,
        reserved=1,
    )
    module = functions.modules[-1]
    try:
        first = await runtime.invoke("hang")
        assert first.outcome is Outcome.TIMEOUT
        assert runtime.limiter.in_use == 0
        for _ in range(3):  # fresh threads serve the next invocations
            assert (await runtime.invoke("go")).value == "served"
    finally:
        import sys

        sys.modules[module].GATE.set()
        release.set()


async def test_timed_out_handler_that_swallows_the_interrupt_is_still_a_timeout(
    functions: Functions,
) -> None:
    runtime = functions.runtime(
        """
        def handler(event, context):
            try:
                while True:
                    pass
            except Exception:
                return "swallowed"
        """,
        timeout=0.05,
    )
    result = await runtime.invoke({})
    assert result.outcome is Outcome.TIMEOUT


# -- marshalling and response size -----------------------------------------------------


@KINDS
async def test_result_that_is_not_json_is_a_marshal_error(functions: Functions, kind: str) -> None:
    runtime = functions.runtime(f"{kind} handler(event, context):\n    return {{'s': {{1, 2}}}}\n")
    result = await runtime.invoke({}, request_id="req-m")
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert set(result.value) == ERROR_KEYS
    assert result.value["errorType"] == "Runtime.MarshalError"
    assert result.value["errorMessage"].startswith("Unable to marshal response: ")
    assert "set" in result.value["errorMessage"]
    assert result.value["requestId"] == "req-m"


async def test_decimal_and_bytes_results(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        import decimal
        def handler(event, context):
            if event == "bytes":
                return b"raw"
            return {"price": decimal.Decimal("1.50"), "qty": decimal.Decimal("3")}
        """
    )
    assert json.loads((await runtime.invoke("d")).payload) == {"price": 1.5, "qty": 3}
    assert (await runtime.invoke("bytes")).payload == b"raw"


async def test_response_over_the_limit_is_response_size_too_large(functions: Functions) -> None:
    runtime = functions.runtime(
        "def handler(event, context):\n    return 'x' * event\n", max_response=1000
    )
    assert (await runtime.invoke(990)).ok
    result = await runtime.invoke(2000)
    assert result.outcome is Outcome.FUNCTION_ERROR
    assert result.value["errorType"] == "Function.ResponseSizeTooLarge"
    assert result.value["errorMessage"] == (
        "Response payload size exceeded maximum allowed payload size (1000 bytes)."
    )
    assert len(result.payload) < 1000


# -- environment variables -------------------------------------------------------------

ENV_MODULE = """
import asyncio, os, threading
AT_IMPORT = (os.environ.get("COLOR"), os.getenv("COLOR"), os.environ["AWS_LAMBDA_FUNCTION_NAME"])

def _read():
    return os.environ.get("COLOR"), os.getenv("COLOR")

def handler(event, context):
    seen = {}
    worker = threading.Thread(target=lambda: seen.update(thread=_read()))
    worker.start()
    worker.join()
    os.environ["WRITTEN"] = os.environ["COLOR"]
    return {"import": AT_IMPORT, "handler": _read(), "thread": seen["thread"],
            "written": os.environ.get("WRITTEN"), "keys": "COLOR" in dict(os.environ)}

async def ahandler(event, context):
    await asyncio.sleep(0)
    inner = await asyncio.create_task(asyncio.to_thread(_read))
    return {"import": AT_IMPORT, "handler": _read(), "task_thread": inner,
            "written": os.environ.get("WRITTEN")}
"""


async def test_environment_variables_are_isolated_between_functions(
    functions: Functions,
) -> None:
    import os

    red = functions.runtime(
        ENV_MODULE, name="red", variables={"COLOR": "red", "AWS_LAMBDA_FUNCTION_NAME": "red"}
    )
    blue = functions.runtime(
        ENV_MODULE, name="blue", variables={"COLOR": "blue", "AWS_LAMBDA_FUNCTION_NAME": "blue"}
    )
    red_result, blue_result = await asyncio.gather(red.invoke({}), blue.invoke({}))
    assert json.loads(red_result.payload) == {
        "import": ["red", "red", "red"],
        "handler": ["red", "red"],
        "thread": ["red", "red"],
        "written": "red",
        "keys": True,
    }
    assert json.loads(blue_result.payload) == {
        "import": ["blue", "blue", "blue"],
        "handler": ["blue", "blue"],
        "thread": ["blue", "blue"],
        "written": "blue",
        "keys": True,
    }
    # Nothing leaked into the daemon's own environment.
    assert "COLOR" not in os.environ
    assert "WRITTEN" not in os.environ


async def test_environment_variables_of_async_handlers(functions: Functions) -> None:
    import os

    variables = {"AWS_LAMBDA_FUNCTION_NAME": "x"}
    green = functions.runtime(
        ENV_MODULE, attribute="ahandler", variables={**variables, "COLOR": "green"}
    )
    gray = functions.runtime(
        ENV_MODULE, attribute="ahandler", variables={**variables, "COLOR": "gray"}
    )
    green_result, gray_result = await asyncio.gather(green.invoke({}), gray.invoke({}))
    green_seen, gray_seen = json.loads(green_result.payload), json.loads(gray_result.payload)
    assert green_seen["import"][:2] == ["green", "green"]
    assert green_seen["handler"] == ["green", "green"]
    assert green_seen["task_thread"] == ["green", "green"]
    assert gray_seen["handler"] == ["gray", "gray"]
    assert gray_seen["task_thread"] == ["gray", "gray"]
    assert os.getenv("COLOR") is None
