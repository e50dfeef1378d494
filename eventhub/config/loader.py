"""Reading a configuration file into an ``EventhubConfig``, or a ``ConfigError`` naming
every bad key with its line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from eventhub.config.crossref import cross_check, raw_references
from eventhub.config.errors import ConfigError, ConfigIssue
from eventhub.config.messages import located
from eventhub.config.models import HubConfig
from eventhub.config.root import EventhubConfig
from eventhub.config.yamlsource import dotted, load_yaml

DEFAULT_CONFIG = "config/eventhub.yaml"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A valid configuration and where it came from; relative paths resolve against ``base_dir``."""

    config: EventhubConfig
    path: Path  # absolute, symlinks kept: a reload reads what the name points to *now*
    text: str
    base: Path | None = None  # the real directory of the file when it was read

    @property
    def base_dir(self) -> Path:
        return self.base if self.base is not None else self.path.parent

    def resolve(self, value: str) -> Path:
        """A path from the file, made absolute against the config file's directory."""
        candidate = Path(os.path.expanduser(value))
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.config.hub.state_dir)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("", "no such file")], str(file)) from None
    except IsADirectoryError:
        raise ConfigError([ConfigIssue("", "is a directory, not a file")], str(file)) from None
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read: {exc.strerror}")], str(file)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue("", f"not UTF-8 text: {exc.reason}")], str(file)) from None


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate ``path``; raises ConfigError listing every problem (nothing partial)."""
    file = Path(path)
    text = _read(file)
    config = parse_config(text, env if env is not None else os.environ, filename=str(file))
    # Re-read through the name given (a Kubernetes ConfigMap swaps a symlink under it);
    # relative paths in the file count from where the file really is.
    return LoadedConfig(
        config=config, path=Path(os.path.abspath(file)), text=text, base=file.resolve().parent
    )


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
        for error in exc.errors(include_url=False):
            path, message = located(doc.data, error)
            if path not in doc.unset:  # an unset ${VAR} was reported; its "" is no news
                issues.append(ConfigIssue(dotted(path), message, doc.line_of(path)))
        known = {issue.path for issue in issues}
        issues.extend(
            ConfigIssue(dotted(path), message, doc.line_of(path))
            for path, message in raw_references(doc.data)
            if dotted(path) not in known
        )
        raise ConfigError(issues, filename) from None
    issues.extend(
        ConfigIssue(dotted(path), message, doc.line_of(path))
        for path, message in cross_check(config)
    )
    if issues:
        raise ConfigError(issues, filename)
    return config


# What a client of the running daemon (``eventhub invoke``, ``status``, ``put``, ``send``)
# needs from the file: where the daemon listens and the ARNs it answers with.
CLIENT_KEYS = ("listen", "admin_listen", "region", "account_id")


def load_client_settings(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> HubConfig:
    """Only ``hub``'s listen addresses, region and account of ``path``.

    A client needs none of the daemon's secrets, and a file half-edited elsewhere (the
    daemon still serving the previous one) must not stop it: only these keys are checked.
    """
    file = Path(path)
    doc = load_yaml(_read(file), env if env is not None else os.environ)
    if not isinstance(doc.data, dict):
        issues = doc.issues or [ConfigIssue("", "the file must be a YAML mapping", 1)]
        raise ConfigError(issues, str(file))
    hub = doc.data.get("hub")
    wanted = {k: v for k, v in hub.items() if k in CLIENT_KEYS} if isinstance(hub, dict) else {}
    prefixes = tuple(f"hub.{key}" for key in CLIENT_KEYS)
    issues = [issue for issue in doc.issues if issue.path.startswith(prefixes)]
    try:
        config = EventhubConfig.model_validate({"hub": wanted})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            key_path, message = located({"hub": wanted}, error)
            issues.append(ConfigIssue(dotted(key_path), message, doc.line_of(key_path)))
    if issues:
        raise ConfigError(issues, str(file))
    return config.hub
