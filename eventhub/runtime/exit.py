"""Leaving the process when handler threads outlived their invocations."""

from __future__ import annotations

import os
import sys
import threading
import time

import structlog

log = structlog.get_logger("eventhub.runtime")


def leave_stuck_threads(code: int, within: float = 0.5) -> None:
    """Exit with ``code`` now if handler threads are still running; else return.

    Call it once all work is done (the hub shut down, the local invoke printed). A
    ``def`` handler that timed out while stuck in C code (``time.sleep``, a blocking
    socket) keeps its thread, and the interpreter would wait for it at exit, far past
    ``shutdown_grace``. Everything else is closed by then (store committed, output
    flushed here), so leaving those threads behind loses nothing.
    """
    deadline = time.monotonic() + within
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    stuck = []
    for thread in others:
        if not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
    if stuck:
        log.warning("exiting with handler threads still running", threads=stuck)
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
        os._exit(code)
