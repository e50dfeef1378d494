"""Pydantic's validation errors turned into what a person editing the file needs: the key
path as written in the file (``sources.orders.batch_size``, ``functions.f.async``) and a
short message in our words (pydantic's own wording never reaches the user)."""

from __future__ import annotations

import difflib
import math
from typing import Any

from pydantic_core import ErrorDetails

from eventhub.config.base import PATTERN_MEANINGS, ValueErrorAt
from eventhub.config.schema import model_for, tagged_models, type_at, yaml_keys

KeyPath = tuple[str | int, ...]


def data_path(data: Any, loc: tuple[str | int, ...]) -> KeyPath:
    """Pydantic's location as a path of the file: without the union tags it inserts
    (``sources.x.kafka.topics``), with aliases (``async``), without ``[key]`` markers."""
    path: list[str | int] = []
    node = data
    tag_skipped = False
    for part in loc:
        if isinstance(node, dict) and not tag_skipped and node.get("type") == part:
            tag_skipped = True  # the tag of a discriminated union, not a key of the file
            continue
        tag_skipped = False
        if part == "[key]":  # the key itself was invalid: the path already names it
            continue
        if isinstance(node, dict) and part == "async_" and "async" in node:
            part = "async"
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def located(data: Any, error: ErrorDetails) -> tuple[KeyPath, str]:
    """The key path an error belongs to and its message."""
    path = data_path(data, error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueErrorAt):
        path = (*path, *cause.at)
    elif error["type"] == "union_tag_invalid":
        path = (*path, "type")  # the value of `type` is what is wrong
    return path, message(data, path, error)


_SIMPLE = {
    "missing": "required",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "datetime_parsing": "must be an ISO 8601 date-time (2024-05-01T12:00:00Z)",
    "datetime_from_date_parsing": "must be an ISO 8601 date-time (2024-05-01T12:00:00Z)",
    "datetime_type": "must be an ISO 8601 date-time (2024-05-01T12:00:00Z)",
    "timezone_aware": "must have a time zone (2024-05-01T12:00:00Z)",
}

_BOUNDS = {
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "string_too_short": "must be at least {min_length} character(s)",
    "string_too_long": "must be at most {max_length} characters",
}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def message(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    """Our message for one pydantic error at ``path`` of the file's ``data``."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind in _BOUNDS:
        if isinstance(error["input"], float) and math.isnan(error["input"]):
            return "must be a number, not .nan"
        return _BOUNDS[kind].format(**{k: _number(v) for k, v in ctx.items()})
    special = {
        "extra_forbidden": _unknown_key,
        "literal_error": _literal,
        "union_tag_not_found": _needs_type,
        "union_tag_invalid": _bad_type,
        "string_type": _not_a_string,
        "string_pattern_mismatch": _pattern,
        "value_error": _value_error,
    }.get(kind)
    if special is not None:
        return special(data, path, error)
    return str(error["msg"])


def _unknown_key(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    model = model_for(type_at(path[:-1], data), _node(data, path[:-1])) if path else None
    key = str(path[-1]) if path else ""
    close = difflib.get_close_matches(key, yaml_keys(model), n=1) if model else []
    return f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"


def _literal(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    expected = (error.get("ctx") or {}).get("expected", "")
    got = error["input"]
    if path == ("version",):
        shown = "null" if got is None else repr(got)
        return f"unsupported version {shown}: this eventhub reads version 1"
    hint = " (quote it)" if not isinstance(got, str) and repr(str(got)) in expected else ""
    return f"must be one of {expected}, not {got!r}{hint}"


def _needs_type(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    tags = ", ".join(tagged_models(type_at(path, data)))
    return f"needs a `type` ({tags})" if tags else "needs a `type`"


def _bad_type(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"


def _not_a_string(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    got = error["input"]
    if isinstance(got, bool | int | float):
        return "must be a string (put the value in quotes)"
    return "must be a string"


def _pattern(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    regex = str((error.get("ctx") or {}).get("pattern", ""))
    meaning = PATTERN_MEANINGS.get(regex)
    got = error["input"]
    if meaning is None:
        return f"{got!r} does not match the pattern {regex}"
    return f"{got!r} is not valid: must be {meaning}"


def _value_error(data: Any, path: KeyPath, error: ErrorDetails) -> str:
    return str((error.get("ctx") or {}).get("error", error["msg"]))


def _node(data: Any, path: KeyPath) -> Any:
    node = data
    for key in path:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return None
    return node
