"""The one error type configuration loading raises, carrying every problem found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file: the dotted key path, a message and the file line."""

    path: str
    message: str
    line: int | None = None

    def render(self, filename: str | None = None) -> str:
        """``FILE:LINE: path: message``; parts that are unknown are left out."""
        where = [filename] if filename else []
        if self.line:
            where.append(str(self.line) if filename else f"line {self.line}")
        prefix = "".join(f"{part}: " for part in (":".join(where), self.path) if part)
        return f"{prefix}{self.message}"


class ConfigError(Exception):
    """A configuration file is invalid; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: list[ConfigIssue], filename: str | None = None) -> None:
        self.issues = sorted(issues, key=lambda i: (i.line or 0, i.path))
        self.filename = filename
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(issue.render(self.filename) for issue in self.issues)
