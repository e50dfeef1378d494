"""Tumbling windows of a shard: boundaries, carried state, and when a window closes.

As Lambda does for Kinesis: windows are aligned to the records' arrival timestamps
(``[k*W, (k+1)*W)``); every invocation inside a window gets the state the previous one
returned (``{}`` first); a window closes when a record of a later window comes, or when its
end has passed and no record of it is waiting; closing is one extra invocation with
``isFinalInvokeForWindow`` and no records. A state over 1 MB ends the window early
(``isWindowTerminatedEarly``). The shard's checkpoint stays at the window's first record
until the final invocation succeeded, so a crash replays the whole window and rebuilds its
state (state is kept in memory only, never persisted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from eventhub.mapping.stream_format import Window

MAX_STATE_BYTES: Final = 1_048_576


@dataclass(slots=True)
class OpenWindow:
    """The window a lane is in: its bounds, state, and first position (held checkpoint)."""

    start_ms: int
    end_ms: int
    first_position: int
    state: dict[str, Any] = field(default_factory=dict)
    terminated_early: bool = False

    def event_window(self, *, final: bool) -> Window:
        return Window(self.start_ms, self.end_ms, self.state, final, self.terminated_early)


class TumblingWindows:
    """Window arithmetic for one lane (``seconds`` > 0)."""

    def __init__(self, seconds: int) -> None:
        self.width_ms = seconds * 1000
        self.current: OpenWindow | None = None

    def start_of(self, arrival_ms: int) -> int:
        """Start (ms) of the window holding a record that arrived at ``arrival_ms``."""
        return arrival_ms - arrival_ms % self.width_ms

    def belongs(self, arrival_ms: int) -> bool:
        """Whether a record goes into the open window (late records join it too)."""
        current = self.current
        return current is None or self.start_of(arrival_ms) <= current.start_ms

    def open_for(self, arrival_ms: int, position: int) -> OpenWindow:
        """The open window, opening one for this record if none is open."""
        if self.current is None:
            start = self.start_of(arrival_ms)
            self.current = OpenWindow(start, start + self.width_ms, position)
        return self.current

    def due(self, now_ms: int) -> bool:
        """The open window's end has passed (close it once no record of it waits)."""
        return self.current is not None and now_ms >= self.current.end_ms

    def keep(self, state: dict[str, Any]) -> None:
        """Carry ``state`` to the next invocation; a state over 1 MB ends the window early."""
        if self.current is None:
            return
        self.current.state = state
        if len(json.dumps(state, default=str)) > MAX_STATE_BYTES:
            self.current.terminated_early = True

    def must_close_early(self) -> bool:
        return self.current is not None and self.current.terminated_early

    def closed(self) -> None:
        """The final invocation succeeded: drop the window and its state."""
        self.current = None
