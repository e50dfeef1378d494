"""The hub's handle on one worker process of the process runtime.

``WorkerProcess.invoke`` sends one invoke frame and waits for the answer without ever
blocking the loop: a reader task turns the worker's frames into log lines (routed to
the running invocation's log) and answers, a second one turns its raw stderr into log
lines. A worker that does not answer in time, or whose invocation is cancelled, is
killed with its whole process group; one that exits is noticed at once, busy or idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from eventhub.runtime.environ import OverlayEnviron
from eventhub.runtime.environment import EnvironmentSpec, HandlerReturn
from eventhub.runtime.errors import (
    InitError,
    InvocationFailure,
    InvocationTimeout,
    MarshalError,
    RuntimeExit,
)
from eventhub.runtime.failures import exit_message
from eventhub.runtime.logcapture import InvocationLog
from eventhub.runtime.process_protocol import RAW_MARK, Header, encode_frame, read_frame

log = structlog.get_logger("eventhub.runtime.process")
_function_log = structlog.get_logger("eventhub.function")

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)
_BOOTSTRAP = (
    f"import sys; sys.path.append({_PACKAGE_PARENT!r}); "
    "from eventhub.runtime.worker import main; main()"
)
_STDERR_GRACE = 0.5  # for the stderr pipe to reach EOF once the worker is gone
_MARK_WAIT = 5.0  # the mark was written: only a stalled daemon takes this long to read it
_MARK = RAW_MARK.decode()


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Limits of the process runtime that are not in the function's configuration."""

    init_timeout: float = 10.0
    allowance_mb: int = 64
    idle_ttl: float = 300.0


class HandlerFailed(InvocationFailure):
    """The handler raised in the worker: its error document, built there."""

    def __init__(self, document: dict[str, Any]) -> None:
        # The message is what FunctionRuntime logs after "[ERROR] <type>: ", so it carries
        # the user's stack the way Lambda's error line does: lines joined with "\r".
        frames = document.get("stackTrace") or []
        message = str(document.get("errorMessage", ""))
        error_type = str(document.get("errorType", "Exception"))
        # ends with the exception line, as Python's traceback (and the inline runtime's)
        trace = (
            "Traceback (most recent call last):\n"
            + "".join(map(str, frames))
            + f"{error_type}: {message}"
        )
        super().__init__(message + "\r" + trace.rstrip("\n").replace("\n", "\r"))
        self.error_type = error_type
        self._document = document

    def document(self, request_id: str) -> dict[str, Any]:
        return {**self._document, "requestId": request_id}


class OutOfMemory(InvocationFailure):  # noqa: N818 - named after the errorType
    """The handler went over ``memory_mb``; the worker is gone (``Runtime.OutOfMemory``)."""

    error_type = "Runtime.OutOfMemory"


class UnmarshalError(InvocationFailure):
    """The event could not be passed to the handler as JSON (``Runtime.UnmarshalError``)."""

    error_type = "Runtime.UnmarshalError"


def exit_reason(returncode: int) -> str:
    """How the Go-based Lambda runtime describes a process exit."""
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


def worker_environment(spec: EnvironmentSpec) -> dict[str, str]:
    """The daemon's own environment (not an inline function's overlay) plus the function's."""
    base = os.environ.base if isinstance(os.environ, OverlayEnviron) else os.environ
    return {**base, **spec.variables}


@dataclass(frozen=True, slots=True)
class _Exited:
    returncode: int


class WorkerProcess:
    """One worker process; at most one invocation at a time."""

    def __init__(
        self,
        spec: EnvironmentSpec,
        proc: asyncio.subprocess.Process,
        spawned: float,
        on_exit: Callable[[WorkerProcess], None],
    ) -> None:
        self.spec = spec
        self.proc = proc
        self.pid = proc.pid
        self.spawned = spawned
        self.loaded = False
        self.usable = True
        self.idle_since = time.monotonic()
        self._on_exit = on_exit
        self._inbox: asyncio.Queue[tuple[Header, bytes] | _Exited] = asyncio.Queue()
        self._log: InvocationLog | None = None
        self._busy = False
        self._killed = False
        self._request_id = ""
        self._raw_done = asyncio.Event()
        self._stderr_task = asyncio.create_task(self._read_stderr(), name=f"worker-err:{self.pid}")
        self._frames_task = asyncio.create_task(self._read_frames(), name=f"worker:{self.pid}")

    @classmethod
    async def start(
        cls,
        spec: EnvironmentSpec,
        settings: WorkerSettings,
        on_exit: Callable[[WorkerProcess], None],
    ) -> WorkerProcess:
        """Spawn a worker (fork+exec of a fresh interpreter, never a fork of the daemon)."""
        spawned = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",
            "-c",
            _BOOTSTRAP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=spec.code_dir,
            env=worker_environment(spec),
            start_new_session=True,  # its own process group: killed as a whole
        )
        worker = cls(spec, proc, spawned, on_exit)
        worker._send(
            {
                "t": "hello",
                "handler": spec.handler,
                "module": spec.module,
                "attribute": spec.attribute,
                "code_dir": str(spec.code_dir),
                "memory_mb": spec.memory_mb,
                "allowance_mb": settings.allowance_mb,
                "init_timeout": settings.init_timeout,
                "parent": os.getpid(),
                "spawned": spawned,
            }
        )
        return worker

    async def invoke(
        self,
        header: Header,
        body: bytes,
        invocation_log: InvocationLog,
        budget: float,
        init_timeout: float,
    ) -> HandlerReturn:
        """Run one invocation; raises the ``InvocationFailure`` that describes its end.

        The worker stays usable after a handler error or a marshal error; after a
        timeout, a crash, an init error, running out of memory or cancellation it is
        killed (``usable`` is False) and must be discarded.
        """
        self._request_id = str(header["id"])
        self._log = invocation_log
        self._raw_done.clear()
        self._busy = True
        try:
            self._send(header, body)
            init_ms: float | None = None
            if not self.loaded:
                # As in Lambda, init has its own budget; beyond it, init eats the timeout.
                waited = time.monotonic() - self.spawned
                answer = await self._receive(init_timeout + budget - waited)
                if answer[0]["t"] == "init_error":
                    await self._raw_output_read(answer[0])
                init_ms = invocation_log.init_ms = self._initialized(answer)
                budget -= max(0.0, init_ms / 1000 - init_timeout)
            answer = await self._receive(budget)
            await self._raw_output_read(answer[0])
            return self._result(answer, init_ms)
        finally:
            self._log = None
            if self._busy:  # no answer: timeout, cancellation, crash
                self.kill()

    def _initialized(self, answer: tuple[Header, bytes]) -> float:
        header, _ = answer
        if header["t"] == "init":
            self.loaded = True
            return float(header["ms"])
        if header["t"] == "init_error":
            self._busy = False
            self.usable = False
            raise InitError(str(header["type"]), str(header["msg"]))
        raise RuntimeExit(f"unexpected frame {header['t']!r} from worker {self.pid}")

    def _result(self, answer: tuple[Header, bytes], init_ms: float | None) -> HandlerReturn:
        header, body = answer
        self._busy = False
        kind = header["t"]
        if kind == "ok":
            value = body if header.get("raw") else json.loads(body)
            return HandlerReturn(value, init_ms, header.get("mem"))
        if kind == "error":
            raise HandlerFailed(header["doc"])
        if kind == "fail":
            failure = MarshalError if header["type"] == "Runtime.MarshalError" else UnmarshalError
            raise failure(str(header["msg"]))
        if kind == "oom":
            self.usable = False
            raise OutOfMemory(exit_message(self._request_id, "signal: killed"))
        self._busy = True
        raise RuntimeExit(f"unexpected frame {kind!r} from worker {self.pid}")

    async def _raw_output_read(self, header: Header) -> None:
        """Wait (briefly) until the stderr reader routed the invocation's raw output."""
        if header.get("mark"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._raw_done.wait(), _MARK_WAIT)

    async def _receive(self, within: float) -> tuple[Header, bytes]:
        request_id = self._request_id
        try:
            async with asyncio.timeout(max(0.0, within)):
                item = await self._inbox.get()
        except TimeoutError:
            self.kill()
            raise InvocationTimeout(self.spec.timeout) from None
        if isinstance(item, _Exited):
            self._busy = False
            reason = exit_reason(item.returncode) if item.returncode else None
            raise RuntimeExit(exit_message(request_id, reason))
        return item

    def _send(self, header: Header, body: bytes = b"") -> None:
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            return  # the worker is gone; _receive reports how it ended
        stdin.write(encode_frame(header, body))

    def kill(self) -> None:
        """SIGKILL the worker and whatever its handler started; idempotent."""
        self.usable = False
        if self._killed or self.proc.returncode is not None:
            return
        self._killed = True
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def wait_closed(self) -> None:
        """Wait until the process is reaped and its pipes are read to the end."""
        await asyncio.gather(self._frames_task, return_exceptions=True)

    async def _read_frames(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None  # noqa: S101 - created with stdout=PIPE
        try:
            while True:
                header, body = await read_frame(stdout)
                if header["t"] == "log":
                    self._route(header)
                else:
                    self._inbox.put_nowait((header, body))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ValueError as exc:  # a corrupt stream: the worker cannot be trusted
            log.warning("bad frame from worker", function=self.spec.function, error=str(exc))
            self.kill()
        self.usable = False
        returncode = await self.proc.wait()
        with contextlib.suppress(TimeoutError):  # a grandchild may hold stderr open
            await asyncio.wait_for(asyncio.shield(self._stderr_task), _STDERR_GRACE)
        self._stderr_task.cancel()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._inbox.put_nowait(_Exited(returncode))
        self._on_exit(self)

    def _route(self, header: Header) -> None:
        text, stream = str(header.get("text", "")), header.get("stream")
        current = self._log
        if current is not None and header.get("id") == current.request_id:
            current.line(text, stream, str(header.get("level", "info")))
        else:  # output of a thread that outlived its invocation
            _function_log.info(
                text, function=self.spec.function, request_id=header.get("id"), stream=stream
            )

    async def _read_stderr(self) -> None:
        """Raw output (C code, child processes, crash messages) as lines of the running log."""
        stderr = self.proc.stderr
        assert stderr is not None  # noqa: S101 - created with stderr=PIPE
        pending = b""
        while chunk := await stderr.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._raw_line(line.decode(errors="replace"))
        if pending:
            self._raw_line(pending.decode(errors="replace"))

    def _raw_line(self, text: str) -> None:
        if _MARK in text:
            text, _, request_id = text.partition(_MARK)
            if request_id == self._request_id:
                self._raw_done.set()
            if not text:
                return
        if self._log is not None:
            self._log.line(text, "stderr")
        else:
            _function_log.info(text, function=self.spec.function, pid=self.pid, stream="stderr")
