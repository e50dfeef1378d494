"""Configuration: YAML with line numbers, ``${VAR}`` expansion, frozen pydantic models."""

from eventhub.config.errors import ConfigError, ConfigIssue
from eventhub.config.loader import DEFAULT_CONFIG, LoadedConfig, load_config, parse_config
from eventhub.config.root import EventhubConfig

__all__ = [
    "DEFAULT_CONFIG",
    "ConfigError",
    "ConfigIssue",
    "EventhubConfig",
    "LoadedConfig",
    "load_config",
    "parse_config",
]
