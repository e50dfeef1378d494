"""Checks that need the whole file: names that refer to other entries, and AWS's own rules
that span two entries (a queue mapping's function timeout vs the queue's visibility)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

from eventhub.config.destinations import parse_destination
from eventhub.config.root import EventhubConfig
from eventhub.config.sources import (
    HttpSourceConfig,
    KafkaSourceConfig,
    QueueSourceConfig,
    RabbitMQSourceConfig,
)

Problem = tuple[tuple[str | int, ...], str]


def cross_check(config: EventhubConfig) -> list[Problem]:
    """Every reference problem in ``config`` as (key path, message); empty when consistent."""
    return [
        *_queues(config),
        *_functions(config),
        *_sources(config),
        *_routes(config),
    ]


# The keys of a source that name another entry: key -> (section, noun), by source type.
_NAMED = {"function": ("functions", "function")}
_NAMED_BY_TYPE = {
    "stream": {"stream": ("streams", "stream")},
    "queue": {"queue": ("queues", "queue")},
    "kafka": {"connection": ("connections", "connection")},
    "rabbitmq": {"connection": ("connections", "connection")},
}


def _missing_names(
    path: tuple[str | int, ...],
    source_type: str,
    value_of: Callable[[str], object],
    defined: Callable[[str, str], bool],
) -> Iterator[Problem]:
    """The names a source refers to that its file does not define (one rule for the
    validated models and for the raw document)."""
    for key, (section, noun) in {**_NAMED, **_NAMED_BY_TYPE.get(source_type, {})}.items():
        target = value_of(key)
        if isinstance(target, str) and not defined(section, target):
            yield (*path, key), f"{noun} {target!r} is not defined under {section}"


def raw_references(data: dict[str, object]) -> list[Problem]:
    """The name references and route conflicts of ``sources`` checked on the raw document,
    for a file that failed schema validation: ``validate`` then still lists a source naming
    a missing function, stream, queue or connection, or a route another one already has,
    with the other problems, not in a second round."""
    sources = data.get("sources")
    if not isinstance(sources, dict):
        return []

    def defined(section: str, name: str) -> bool:
        entries = data.get(section)
        return isinstance(entries, dict) and name in entries

    missing = [
        problem
        for name, source in sources.items()
        if isinstance(source, dict)
        for problem in _missing_names(
            ("sources", name), str(source.get("type")), source.get, defined
        )
    ]
    routes = (
        (name, source.get("route"))
        for name, source in sources.items()
        if isinstance(source, dict) and source.get("type") == "http"
    )
    return [*missing, *_conflicts((name, r) for name, r in routes if isinstance(r, str))]


def _destination(
    config: EventhubConfig, path: tuple[str | int, ...], uri: str
) -> Iterator[Problem]:
    ref = parse_destination(uri)
    if ref.kind == "queue" and ref.target not in config.queues:
        yield path, f"queue {ref.target!r} is not defined under queues"
    elif ref.kind == "stream" and ref.target not in config.streams:
        yield path, f"stream {ref.target!r} is not defined under streams"
    elif ref.kind == "function" and ref.target not in config.functions:
        yield path, f"function {ref.target!r} is not defined under functions"
    elif ref.kind in ("kafka", "rabbitmq"):
        conn = config.connections.get(ref.target)
        if conn is None:
            yield path, f"connection {ref.target!r} is not defined under connections"
        elif conn.type != ref.kind:
            yield path, f"connection {ref.target!r} is a {conn.type} connection, not {ref.kind}"


def _queues(config: EventhubConfig) -> Iterator[Problem]:
    for name, queue in config.queues.items():
        if queue.fifo and not name.endswith(".fifo"):
            yield ("queues", name, "fifo"), "the name of a FIFO queue must end in .fifo (as SQS)"
        elif name.endswith(".fifo") and not queue.fifo:
            yield (
                ("queues", name, "fifo") if "fifo" in queue.model_fields_set else ("queues", name),
                "a name ending in .fifo is for FIFO queues: set `fifo: true` or rename the queue",
            )
        if queue.content_based_deduplication and not queue.fifo:
            yield ("queues", name, "content_based_deduplication"), "only FIFO queues deduplicate"
        if queue.redrive is None:
            continue
        dlq = queue.redrive.dead_letter_queue
        path = ("queues", name, "redrive", "dead_letter_queue")
        if dlq == name:
            yield path, "a queue cannot be its own dead-letter queue"
        elif dlq not in config.queues:
            yield path, f"queue {dlq!r} is not defined under queues"
        elif config.queues[dlq].fifo != queue.fifo:
            yield (
                path,
                "a FIFO queue needs a FIFO dead-letter queue, a standard queue a standard one",
            )


def _functions(config: EventhubConfig) -> Iterator[Problem]:
    for name, function in config.functions.items():
        for key in ("on_success", "on_failure"):
            uri = getattr(function.async_, key)
            if uri is not None:
                yield from _destination(config, ("functions", name, "async", key), uri)


def _sources(config: EventhubConfig) -> Iterator[Problem]:
    def defined(section: str, name: str) -> bool:
        return name in getattr(config, section)

    for name, source in config.sources.items():
        path: tuple[str | int, ...] = ("sources", name)
        yield from _missing_names(path, source.type, functools.partial(getattr, source), defined)
        yield from _source_refs(config, path, source)
        for key in ("on_failure", "dead_letter"):
            uri = getattr(source, key, None)
            if uri is not None:
                yield from _destination(config, (*path, key), uri)


def _source_refs(
    config: EventhubConfig, path: tuple[str | int, ...], source: object
) -> Iterator[Problem]:
    """What a source's references must satisfy beyond existing (``_missing_names``)."""
    if isinstance(source, KafkaSourceConfig | RabbitMQSourceConfig):
        conn = config.connections.get(source.connection)
        if conn is not None and conn.type != source.type:
            yield (
                (*path, "connection"),
                f"connection {source.connection!r} is not a {source.type} connection",
            )
    if isinstance(source, QueueSourceConfig):
        yield from _queue_mapping(config, path, source)


def _queue_mapping(
    config: EventhubConfig, path: tuple[str | int, ...], source: QueueSourceConfig
) -> Iterator[Problem]:
    queue = config.queues.get(source.queue)
    if queue is None:  # reported by _missing_names
        return
    if queue.fifo and source.batch_size > 10:
        yield (*path, "batch_size"), "must be <= 10 for a FIFO queue (as SQS)"
    if source.batch_size > 10 and source.batch_window < 1:
        if "batch_window" in source.model_fields_set:
            yield (*path, "batch_window"), "must be >= 1 when batch_size is over 10 (as SQS)"
        else:
            yield (*path, "batch_size"), "over 10 needs batch_window >= 1 (as SQS)"
    function = config.functions.get(source.function)
    if function is not None and function.timeout > queue.visibility_timeout:
        yield (
            (*path, "function"),
            f"function timeout ({function.timeout:g} s) exceeds the visibility timeout of queue "
            f"{source.queue!r} ({queue.visibility_timeout} s), which AWS rejects",
        )


def _routes(config: EventhubConfig) -> Iterator[Problem]:
    """Two routes conflict when they have the same method and match the same paths.

    As in API Gateway, ``ANY /x`` and ``GET /x`` may coexist: the specific method wins.
    """
    yield from _conflicts(
        (name, source.route)
        for name, source in config.sources.items()
        if isinstance(source, HttpSourceConfig)
    )


def _conflicts(routes: Iterable[tuple[str, str]]) -> Iterator[Problem]:
    """(source, route) pairs whose route matches the same requests as an earlier one."""
    seen: dict[tuple[str, str], str] = {}
    for name, route in routes:
        method, _, route_path = route.partition(" ")
        key = (method, _route_shape(route_path))
        other = seen.get(key)
        if other is not None:
            yield ("sources", name, "route"), f"conflicts with the route of source {other!r}"
        else:
            seen[key] = name


def _route_shape(path: str) -> str:
    """Routes that differ only in parameter names match the same requests."""
    return "/".join(
        ("{+}" if seg.endswith("+}") else "{}") if seg.startswith("{") else seg
        for seg in path.split("/")
    )
