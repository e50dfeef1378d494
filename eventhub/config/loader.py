"""Reading a configuration file into an ``EventhubConfig``, or a ``ConfigError`` naming
every bad key with its line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from eventhub.config.crossref import cross_check
from eventhub.config.errors import ConfigError, ConfigIssue
from eventhub.config.root import EventhubConfig
from eventhub.config.yamlsource import LocatedDocument, dotted, load_yaml

DEFAULT_CONFIG = "config/eventhub.yaml"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A valid configuration and where it came from; relative paths resolve against ``base_dir``."""

    config: EventhubConfig
    path: Path
    text: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        """A path from the file, made absolute against the config file's directory."""
        candidate = Path(os.path.expanduser(value))
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.config.hub.state_dir)


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate ``path``; raises ConfigError listing every problem (nothing partial)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("", f"no such file: {file}")], str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue("", f"cannot read: {exc}")], str(file)) from None
    config = parse_config(text, env if env is not None else os.environ, filename=str(file))
    return LoadedConfig(config=config, path=file.resolve(), text=text)


def parse_config(text: str, env: Mapping[str, str], filename: str | None = None) -> EventhubConfig:
    """Validate configuration text; raises ConfigError with every problem found."""
    doc = load_yaml(text, env)
    if doc.data is None and doc.issues:
        raise ConfigError(doc.issues, filename)
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigIssue("", "the file must be a YAML mapping", 1)], filename)
    issues = list(doc.issues)
    try:
        config = EventhubConfig.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_issue(doc, error) for error in exc.errors(include_url=False))
        raise ConfigError(issues, filename) from None
    issues.extend(
        ConfigIssue(dotted(path), message, doc.line_of(path))
        for path, message in cross_check(config)
    )
    if issues:
        raise ConfigError(issues, filename)
    return config


def _issue(doc: LocatedDocument, error: ErrorDetails) -> ConfigIssue:
    path = _data_path(doc.data, error["loc"])
    return ConfigIssue(dotted(path), _message(error), doc.line_of(path))


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Pydantic's location without the union tags it inserts (``sources.x.kafka.topics``)."""
    path: list[str | int] = []
    node = data
    tag_skipped = False
    for part in loc:
        if isinstance(node, dict) and not tag_skipped and node.get("type") == part:
            tag_skipped = True  # the tag of a discriminated union, not a key of the file
            continue
        tag_skipped = False
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


_SIMPLE = {
    "missing": "required",
    "extra_forbidden": "unknown key",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "datetime_parsing": "must be an ISO 8601 date-time",
    "datetime_from_date_parsing": "must be an ISO 8601 date-time",
    "union_tag_not_found": "needs a `type`",
}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    bounds = {
        "less_than_equal": "must be <= {le}",
        "less_than": "must be < {lt}",
        "greater_than_equal": "must be >= {ge}",
        "greater_than": "must be > {gt}",
        "too_short": "must have at least {min_length} item(s)",
        "too_long": "must have at most {max_length} item(s)",
        "string_too_short": "must be at least {min_length} character(s)",
        "string_too_long": "must be at most {max_length} characters",
        "string_pattern_mismatch": "does not match the pattern {pattern}",
    }
    if kind in bounds:
        return bounds[kind].format(**{k: _number(v) for k, v in ctx.items()})
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "union_tag_invalid":
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]
