"""Per-invocation logs: START/END/REPORT, captured print/logging output, the 4 KB tail."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from eventhub.runtime.logcapture import TAIL_BYTES
from tests.support.functions import Functions, process_hooks

REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[\w-]+)\tDuration: (?P<duration>\d+\.\d\d) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: \d+ MB(?:\tInit Duration: (?P<init>\d+\.\d\d) ms)?"
    r"(?P<status>\tStatus: timeout)?$"
)


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


def lines(logs: list[dict[str, Any]], request_id: str) -> list[str]:
    return [str(e["event"]) for e in logs if e.get("request_id") == request_id]


async def test_start_end_report_lines(functions: Functions) -> None:
    runtime = functions.runtime(
        "def handler(event, context):\n    return 1\n", name="reporter", memory_mb=256
    )
    with capture_logs() as logs:
        await runtime.invoke({}, request_id="req-a")
        await runtime.invoke({}, request_id="req-b")
    first, second = lines(logs, "req-a"), lines(logs, "req-b")
    assert first[0] == "START RequestId: req-a Version: $LATEST"
    assert first[1] == "END RequestId: req-a"
    cold = REPORT.match(first[2])
    assert cold, first[2]
    assert cold["id"] == "req-a"
    assert cold["memory"] == "256"
    assert cold["init"] is not None  # cold start
    assert int(cold["billed"]) == math.ceil(float(cold["duration"]) + float(cold["init"]))
    assert cold["status"] is None
    warm = REPORT.match(second[2])
    assert warm, second[2]
    assert warm["init"] is None  # warm start
    assert int(warm["billed"]) >= float(warm["duration"])
    assert all(e["function"] == "reporter" for e in logs if e.get("request_id"))


async def test_timeout_report_has_status_timeout(functions: Functions) -> None:
    runtime = functions.runtime(
        "import asyncio\nasync def handler(event, context):\n    await asyncio.sleep(30)\n",
        timeout=0.05,
    )
    with capture_logs() as logs:
        result = await runtime.invoke({}, request_id="req-t")
    text = lines(logs, "req-t")
    report = REPORT.match(text[-1])
    assert report, text
    assert report["status"] == "\tStatus: timeout"
    assert report["duration"] == "50.00"
    assert any(
        re.match(
            r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z req-t Task timed out after 0\.05 seconds$", t
        )
        for t in text
    )
    assert "Status: timeout" in result.log_tail


@pytest.mark.parametrize("kind", ["def", "async def"])
async def test_print_and_logging_are_captured_with_the_request_id(
    functions: Functions, kind: str
) -> None:
    runtime = functions.runtime(
        f"""
        import logging, sys
        logger = logging.getLogger("orders")
        {kind} handler(event, context):
            print("processing", event["id"])
            sys.stderr.write("to stderr\\n")
            logger.warning("low stock for %s", event["id"])
            print("no newline", end="")
            return "ok"
        """
    )
    with capture_logs() as logs:
        result = await runtime.invoke({"id": 7}, request_id="req-p")
    text = lines(logs, "req-p")
    assert "processing 7" in text
    assert "to stderr" in text
    assert "no newline" in text
    warning = [t for t in text if t.startswith("[WARNING]")]
    assert len(warning) == 1
    assert re.match(r"^\[WARNING\]\t\S+Z\treq-p\tlow stock for 7$", warning[0]), warning
    streams = {e["event"]: e.get("stream") for e in logs if e.get("request_id") == "req-p"}
    assert streams["processing 7"] == "stdout"
    assert streams["to stderr"] == "stderr"
    # Output comes between START and END, and the tail holds all of it.
    assert text.index("processing 7") > text.index("START RequestId: req-p Version: $LATEST")
    assert text.index("no newline") < text.index("END RequestId: req-p")
    assert "processing 7\n" in result.log_tail
    assert "low stock for 7" in result.log_tail


async def test_output_of_concurrent_invocations_is_not_mixed(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        import asyncio
        async def handler(event, context):
            for step in range(3):
                print(f"{event}-{step}")
                await asyncio.sleep(0)
            return event
        """
    )
    with capture_logs() as logs:
        a, b = await asyncio.gather(
            runtime.invoke("a", request_id="req-1"), runtime.invoke("b", request_id="req-2")
        )
    assert [t for t in lines(logs, "req-1") if "-" in t and "Id" not in t] == ["a-0", "a-1", "a-2"]
    assert [t for t in lines(logs, "req-2") if "-" in t and "Id" not in t] == ["b-0", "b-1", "b-2"]
    assert "b-0" not in a.log_tail
    assert "a-0" not in b.log_tail


async def test_output_of_threads_the_handler_starts_is_captured(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        import threading
        def handler(event, context):
            worker = threading.Thread(target=print, args=("from a thread",))
            worker.start()
            worker.join()
        """
    )
    with capture_logs() as logs:
        await runtime.invoke({}, request_id="req-th")
    assert "from a thread" in lines(logs, "req-th")


async def test_tail_is_the_last_4_kb(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        def handler(event, context):
            for i in range(400):
                print(f"line {i:04d} " + "x" * 40)
        """
    )
    result = await runtime.invoke({}, request_id="req-big")
    tail = result.log_tail
    assert len(tail.encode()) <= TAIL_BYTES
    assert len(tail.encode()) > TAIL_BYTES - 100
    assert tail.rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: req-big")
    assert "line 0399" in tail
    assert "line 0000" not in tail


async def test_handler_error_is_logged_as_lambda_does(functions: Functions) -> None:
    runtime = functions.runtime(
        "def handler(event, context):\n    raise KeyError('sku')\n",
    )
    with capture_logs() as logs:
        result = await runtime.invoke({}, request_id="req-e")
    errors = [t for t in lines(logs, "req-e") if t.startswith("[ERROR]")]
    assert len(errors) == 1
    assert errors[0].startswith("[ERROR] KeyError: 'sku'\rTraceback (most recent call last):")
    assert "[ERROR] KeyError" in result.log_tail


async def test_output_outside_invocations_is_not_captured(
    functions: Functions, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = functions.runtime("def handler(event, context):\n    print('inside')\n")
    with capture_logs() as logs:
        await runtime.invoke({}, request_id="req-o")
        print("outside")
    assert "outside" not in [e["event"] for e in logs]
    assert "outside" in capsys.readouterr().out
