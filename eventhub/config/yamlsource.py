"""YAML reading that remembers the line of every key and expands ``${VAR}`` references.

PyYAML's composed node tree carries marks; we walk it ourselves so that every value
gets a dotted path and a line number, duplicate keys are reported (PyYAML silently
keeps the last one) and environment references are expanded in scalars only, never
in keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from eventhub.config.errors import ConfigIssue

Path = tuple[str | int, ...]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def dotted(path: Path) -> str:
    """Render a key path the way error messages name it: ``sources.orders.topics[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class LocatedDocument:
    """The plain data of a YAML document plus the line where each path starts."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    unset: set[Path] = field(default_factory=set)
    """Paths of values that referenced an unset variable (already reported)."""

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or, failing that, of its nearest ancestor."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(path[:cut])
            if line is not None:
                return line
        return None


def expand_env(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}``; ``$$`` is a literal ``$``.

    Returns the expanded text and the names of referenced variables that are unset
    and have no default.
    """
    missing: list[str] = []

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            return default
        return value

    return _VAR.sub(repl, text), missing


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, env: Mapping[str, str]) -> None:
        self.loader = loader
        self.env = env
        self.doc = LocatedDocument(data=None)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str) and "$" in value:
            value, missing = expand_env(value, self.env)
            if missing:
                self.doc.unset.add(path)
            for name in missing:
                self.doc.issues.append(
                    ConfigIssue(
                        dotted(path),
                        f"environment variable {name} is not set (use ${{{name}:-default}})",
                        node.start_mark.line + 1,
                    )
                )
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Keys are names: `123:` names "123" and `on:` names "on", never 123 or True.
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                key = str(self.loader.construct_object(key_node, deep=True))
            child = (*path, key)
            if key in out:
                self.doc.issues.append(
                    ConfigIssue(dotted(child), "duplicate key", key_node.start_mark.line + 1)
                )
            self.doc.lines[child] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child)
        return out


def load_yaml(text: str, env: Mapping[str, str]) -> LocatedDocument:
    """Parse one YAML document; syntax errors become a single issue with the line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        walker = _Walker(loader, env)
        walker.doc.data = {} if node is None else walker.build(node, ())
    except yaml.MarkedYAMLError as exc:
        return LocatedDocument(data=None, issues=[_syntax_issue(exc)])
    except yaml.YAMLError as exc:
        return LocatedDocument(data=None, issues=[ConfigIssue("", f"YAML: {exc}")])
    else:
        return walker.doc
    finally:
        loader.dispose()


def _syntax_issue(exc: yaml.MarkedYAMLError) -> ConfigIssue:
    """``YAML syntax: ...`` at the line where the parser gave up, naming the construct it
    was reading and where that started when it is on another line (an unclosed ``[``)."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = exc.problem or str(exc)
    context = exc.context
    if context and exc.context_mark is not None:
        start = exc.context_mark.line + 1
        if start != line:
            context = f"{context} started on line {start}"
        problem = f"{problem} ({context})"
    return ConfigIssue("", f"YAML syntax: {problem}", line)
