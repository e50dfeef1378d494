"""What in-process handlers saw, and how they should behave (for in-process hub tests).

A handler module written by ``HubHarness.function`` calls ``handle(NAME, event)``: the
event is recorded under NAME and answered by the behaviour the test registered (a function
of the event; raising fails the invocation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

events: dict[str, list[Any]] = {}
behaviours: dict[str, Callable[[Any], Any]] = {}


def handle(name: str, event: Any) -> Any:
    events.setdefault(name, []).append(event)
    behaviour = behaviours.get(name)
    return None if behaviour is None else behaviour(event)


def reset(name: str) -> None:
    events.pop(name, None)
    behaviours.pop(name, None)
