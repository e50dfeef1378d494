"""Destination URIs: where on_success / on_failure records and dead letters go.

``file:PATH`` (JSON lines), ``queue:NAME`` / ``stream:NAME`` (embedded),
``function:NAME`` (async invoke), ``kafka:CONNECTION/TOPIC``,
``rabbitmq:CONNECTION/EXCHANGE/ROUTING_KEY`` and ``http(s)://...`` (POST).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator

DestinationKind = Literal["file", "queue", "stream", "function", "kafka", "rabbitmq", "http"]


@dataclass(frozen=True, slots=True)
class DestinationRef:
    """A parsed destination URI. ``parts`` holds the scheme-specific pieces."""

    kind: DestinationKind
    uri: str
    parts: tuple[str, ...]

    @property
    def target(self) -> str:
        """The first scheme-specific part: a path, a name, a connection or the URL."""
        return self.parts[0]


_ARITY: dict[str, tuple[int, str]] = {
    "file": (1, "file:PATH"),
    "queue": (1, "queue:NAME"),
    "stream": (1, "stream:NAME"),
    "function": (1, "function:NAME"),
    "kafka": (2, "kafka:CONNECTION/TOPIC"),
    "rabbitmq": (3, "rabbitmq:CONNECTION/EXCHANGE/ROUTING_KEY"),
}


def parse_destination(uri: str) -> DestinationRef:
    """Parse a destination URI; raises ValueError naming the expected form."""
    scheme, sep, rest = uri.partition(":")
    if scheme in ("http", "https"):
        split = urlsplit(uri)
        if not split.netloc:
            raise ValueError(f"{uri!r} is not a valid http(s) URL")
        return DestinationRef("http", uri, (uri,))
    if not sep or scheme not in _ARITY:
        forms = ", ".join(form for _, form in _ARITY.values())
        raise ValueError(f"{uri!r} is not a destination; expected one of {forms}, http(s)://...")
    arity, form = _ARITY[scheme]
    parts = (rest,) if arity == 1 else tuple(rest.split("/", arity - 1))
    # The exchange of a rabbitmq destination may be "" (the default exchange).
    must_fill = parts if scheme != "rabbitmq" else (parts[0], parts[-1]) if parts else ()
    if len(parts) != arity or not all(must_fill):
        raise ValueError(f"{uri!r} must look like {form}")
    return DestinationRef(scheme, uri, parts)  # type: ignore[arg-type]


def _check(uri: str) -> str:
    parse_destination(uri)
    return uri


DestinationURI = Annotated[str, AfterValidator(_check)]
