"""A process-runtime worker: one execution environment of one function.

Started by the hub (``eventhub/runtime/process_worker.py``) with the function's
variables as its real ``os.environ`` and the code directory as its working directory.
It reads frames from the hub on a private copy of stdin and answers on a private copy
of stdout (see ``process_protocol``); fd 0 becomes /dev/null and fd 1 joins fd 2, whose
raw output the hub reads as log lines. The handler is imported on the first invoke
(the cold start) and reused; ``def`` handlers run on the main thread, ``async def``
handlers on one event loop that lives as long as the worker.

The worker ends itself when the hub closes the pipe, when its parent dies (kill -9
of the daemon: ``PR_SET_PDEATHSIG``), after an init error (the next invoke gets a fresh
environment, as in Lambda), after running out of memory, or when the handler exits.
"""

from __future__ import annotations

import asyncio
import ctypes
import faulthandler
import inspect
import io
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from eventhub.events.errors import error_document
from eventhub.runtime.errors import InitError
from eventhub.runtime.loader import Handler, import_handler
from eventhub.runtime.logcapture import InvocationLog, current_log, install_capture
from eventhub.runtime.marshal import to_json
from eventhub.runtime.process_protocol import RAW_MARK, Channel, Header, context_from_data

_PR_SET_PDEATHSIG = 1
_OOM_EXIT = 137
_libc = ctypes.CDLL(None, use_errno=True)


class FrameLog(InvocationLog):
    """An invocation log whose lines go to the hub, tagged with the request id."""

    __slots__ = ("_channel",)

    def __init__(self, channel: Channel, request_id: str) -> None:
        super().__init__("", request_id)
        self._channel = channel

    def line(self, text: str, stream: str | None = None, level: str = "info") -> None:
        frame = {"t": "log", "id": self.request_id, "stream": stream, "text": text}
        if level != "info":
            frame["level"] = level
        self._channel.send(frame)


class _OutOfMemory(Exception):  # noqa: N818 - a signal between two functions of this module
    pass


def max_memory_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class Worker:
    """Serves invoke frames for one handler, one at a time."""

    def __init__(self, channel: Channel, hello: Header) -> None:
        self.channel = channel
        self.hello = hello
        self.handler: Handler | None = None
        self.is_async = False
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

    def serve(self, header: Header, body: bytes) -> None:
        request_id = str(header["id"])
        log = FrameLog(self.channel, request_id)
        token = current_log.set(log)
        reply: tuple[Header, bytes] | None = None
        try:
            init_s = self._ensure_loaded(log)
            remaining = float(header["context"]["remaining"])
            remaining -= max(0.0, init_s - float(self.hello["init_timeout"]))
            reply = self._invoke(request_id, header["context"], remaining, body)
        except _OutOfMemory:
            reply = None
        finally:
            log.flush()
            current_log.reset(token)
        if reply is None:
            self.finish(request_id, {"t": "oom", "mem": max_memory_mb()})
            os._exit(_OOM_EXIT)
        self.finish(request_id, *reply)

    def finish(self, request_id: str, header: Header, body: bytes = b"") -> None:
        """Send the answer once raw output written so far (fds 1 and 2) is on its way.

        The mark line written after that output tells the hub when it has read all of
        it, so output of C code and child processes lands in this invocation's log.
        """
        header["mark"] = _mark_raw_output(request_id)
        self.channel.send(header, body)

    def _ensure_loaded(self, log: FrameLog) -> float:
        """Import the handler on the first invoke and return the seconds it took.

        After an init error the worker reports it and exits: the next invoke gets a
        fresh process, as Lambda resets the environment after a failed init.
        """
        if self.handler is not None:
            return 0.0
        hello = self.hello
        try:
            self.handler = import_handler(
                hello["handler"], hello["module"], hello["attribute"], Path(hello["code_dir"])
            )
        except InitError as exc:
            log.flush()
            self.finish(
                log.request_id, {"t": "init_error", "type": exc.error_type, "msg": exc.message}
            )
            os._exit(0)
        elapsed = time.monotonic() - float(hello["spawned"])  # one clock for all processes
        self.is_async = _is_coroutine_function(self.handler)
        self.channel.send({"t": "init", "ms": elapsed * 1000})
        return elapsed

    def _invoke(
        self, request_id: str, context: dict[str, Any], remaining: float, body: bytes
    ) -> tuple[Header, bytes]:
        lambda_context = context_from_data(request_id, context, remaining)
        try:
            event = json.loads(body)
        except ValueError as exc:
            return _fail("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}"), b""
        try:
            value = self._call(event, lambda_context)
        except MemoryError:
            raise _OutOfMemory from None
        except Exception as exc:  # noqa: BLE001 - whatever the handler raised is its error
            return _error_frame(exc, request_id), b""
        try:
            payload = to_json(value)
        except MemoryError:
            raise _OutOfMemory from None
        except (TypeError, ValueError) as exc:
            return _fail("Runtime.MarshalError", f"Unable to marshal response: {exc}"), b""
        raw = isinstance(value, bytes | bytearray)
        return {"t": "ok", "raw": raw, "mem": max_memory_mb()}, payload

    def _call(self, event: Any, context: Any) -> Any:
        assert self.handler is not None  # noqa: S101 - set by _ensure_loaded
        if self.is_async:
            return self.loop.run_until_complete(self.handler(event, context))
        value = self.handler(event, context)
        if inspect.isawaitable(value):  # a def that returned a coroutine: finish it
            return self.loop.run_until_complete(value)
        return value


def _mark_raw_output(request_id: str) -> bool:
    try:
        _libc.fflush(None)  # C stdio buffers of extension code
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
        os.write(2, RAW_MARK + request_id.encode() + b"\n")
    except (OSError, ValueError):  # the handler closed fd 2: the hub must not wait
        return False
    return True


def _fail(error_type: str, message: str) -> Header:
    return {"t": "fail", "type": error_type, "msg": message, "mem": max_memory_mb()}


def _error_frame(exc: Exception, request_id: str) -> Header:
    return {"t": "error", "doc": error_document(exc, request_id), "mem": max_memory_mb()}


def _is_coroutine_function(handler: Handler) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL us when the daemon dies, even by kill -9."""
    if sys.platform == "linux":
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the daemon died before prctl took effect
        os._exit(0)


def limit_memory(memory_mb: int, allowance_mb: int) -> None:
    """Cap the data segment (heap and private writable mappings) at memory plus allowance."""
    limit = (memory_mb + allowance_mb) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _private_channel() -> Channel:
    """Move the protocol off fds 0/1 so handler output and child processes cannot touch it."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return Channel(read_fd, write_fd)


def main() -> None:
    channel = _private_channel()
    first = channel.receive()
    if first is None:
        return
    hello, _ = first
    _die_with_parent(int(hello["parent"]))
    limit_memory(int(hello["memory_mb"]), int(hello["allowance_mb"]))
    faulthandler.enable()  # a native crash leaves its Python stack in the invocation's log
    if isinstance(sys.stdout, io.TextIOWrapper):  # raw output reaches the hub line by line
        sys.stdout.reconfigure(line_buffering=True)
    install_capture()
    worker = Worker(channel, hello)
    while (frame := channel.receive()) is not None:
        worker.serve(*frame)


if __name__ == "__main__":
    main()
