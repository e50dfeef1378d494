"""Route templates of ``http`` sources and the table that matches requests to them.

Pure logic. A route is ``METHOD /path`` where METHOD is a standard method or ``ANY``,
path segments are literals, ``{name}`` (one segment) or a final ``{name+}`` (greedy:
one or more segments), or the catch-all ``$default``. Matching follows API Gateway
HTTP APIs: the most specific route wins. Routes without a greedy parameter come
before greedy ones, then literal segments beat parameters (compared left to right),
then a specific method beats ``ANY``; ``$default`` matches last. ``{proxy+}`` does
not match the root path ``/``, and a parameter never matches an empty segment.

Matching works on the path split at ``/`` before percent-decoding, so an encoded
``%2F`` stays inside one segment; literal segments are compared with the decoded
segment and parameter values are decoded (greedy values keep their ``/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

STANDARD_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
DEFAULT_ROUTE = "$default"

_LITERAL, _PARAM, _GREEDY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A parsed route: ``method`` (``ANY`` for any standard method), ``template`` (the
    path with its ``{params}``, or ``$default``) and its segments as ``(kind, text)``."""

    method: str
    template: str
    segments: tuple[tuple[int, str], ...]

    @property
    def is_default(self) -> bool:
        return self.template == DEFAULT_ROUTE

    @property
    def route_key(self) -> str:
        """``POST /orders/{id}``, or ``$default``: the event's ``routeKey``."""
        return DEFAULT_ROUTE if self.is_default else f"{self.method} {self.template}"

    @property
    def shape(self) -> tuple[str, tuple[tuple[int, str], ...]]:
        """Method and segments with parameter names erased: equal shapes conflict."""
        return self.method, tuple((k, "" if k else t) for k, t in self.segments)

    def priority(self) -> tuple[bool, bool, tuple[int, ...], bool]:
        """Sort key: smaller is more specific."""
        greedy = bool(self.segments) and self.segments[-1][0] == _GREEDY
        kinds = tuple(kind for kind, _ in self.segments)
        return self.is_default, greedy, kinds, self.method == "ANY"


def parse_route(route: str) -> RouteSpec:
    """Parse ``METHOD /path`` or ``$default``. Raises ValueError naming what is wrong
    (the config model validates the same rules first, so this only fails for callers
    that skip it)."""
    if route == DEFAULT_ROUTE:
        return RouteSpec("ANY", DEFAULT_ROUTE, ())
    method, sep, path = route.partition(" ")
    if not sep or method not in STANDARD_METHODS | {"ANY"} or not path.startswith("/"):
        raise ValueError(f"route {route!r} must be `METHOD /path` or $default")
    parts = path[1:].split("/")
    segments: list[tuple[int, str]] = []
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            greedy = name.endswith("+")
            if greedy and index != len(parts) - 1:
                raise ValueError(f"route {route!r}: a greedy {{param+}} must come last")
            segments.append((_GREEDY, name[:-1]) if greedy else (_PARAM, name))
        elif "{" in part or "}" in part:
            raise ValueError(f"route {route!r}: segment {part!r} must be a whole {{param}}")
        else:
            segments.append((_LITERAL, part))
    return RouteSpec(method, path, tuple(segments))


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[T]):
    """The matched route, its target and the decoded path parameters (None when none)."""

    spec: RouteSpec
    target: T
    params: dict[str, str] | None


class RouteTable(Generic[T]):
    """An immutable table of routes; build a new one to change it (swap the reference).

    When two entries have the same shape (same method and segments), the later one in
    ``entries`` wins: during a reload the new instance of a source replaces the old.
    """

    __slots__ = ("_default", "_literal", "_patterns")

    def __init__(self, entries: Iterable[tuple[RouteSpec, T]]) -> None:
        by_shape: dict[object, tuple[RouteSpec, T]] = {}
        for spec, target in entries:
            by_shape[spec.shape] = (spec, target)
        ordered = sorted(by_shape.values(), key=lambda entry: entry[0].priority())
        self._literal: dict[tuple[str, tuple[str, ...]], tuple[RouteSpec, T]] = {}
        self._patterns: list[tuple[RouteSpec, T]] = []
        self._default: tuple[RouteSpec, T] | None = None
        for spec, target in ordered:
            if spec.is_default:
                self._default = (spec, target)
            elif all(kind == _LITERAL for kind, _ in spec.segments):
                key = (spec.method, tuple(text for _, text in spec.segments))
                self._literal[key] = (spec, target)
            else:
                self._patterns.append((spec, target))

    def __len__(self) -> int:
        return len(self._literal) + len(self._patterns) + (self._default is not None)

    def match(self, method: str, raw_path: str) -> RouteMatch[T] | None:
        """The most specific route for ``method`` and the still-encoded ``raw_path``."""
        if not raw_path.startswith("/"):
            return None
        raw = raw_path[1:].split("/")
        decoded = tuple(unquote(s) if "%" in s else s for s in raw)
        standard = method in STANDARD_METHODS
        # A literal route is more specific than any pattern of the same length.
        found = self._literal.get((method, decoded))
        if found is None and standard:
            found = self._literal.get(("ANY", decoded))
        if found is not None:
            return RouteMatch(found[0], found[1], None)
        for spec, target in self._patterns:
            if spec.method != method and not (standard and spec.method == "ANY"):
                continue
            params = _match_segments(spec.segments, decoded)
            if params is not None:
                return RouteMatch(spec, target, params)
        if self._default is not None and standard:
            return RouteMatch(self._default[0], self._default[1], None)
        return None


def _match_segments(
    segments: tuple[tuple[int, str], ...], decoded: tuple[str, ...]
) -> dict[str, str] | None:
    params: dict[str, str] = {}
    count = len(segments)
    for index, (kind, text) in enumerate(segments):
        if kind == _GREEDY:
            rest = decoded[index:]
            if not rest or not "".join(rest):
                return None
            params[text] = "/".join(rest)
            return params
        if index >= len(decoded):
            return None
        value = decoded[index]
        if kind == _LITERAL:
            if value != text:
                return None
        elif not value:
            return None
        else:
            params[text] = value
    return params if len(decoded) == count else None
