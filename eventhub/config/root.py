"""The whole configuration file: ``EventhubConfig``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from eventhub.config.base import Model
from eventhub.config.models import (
    Connection,
    FunctionConfig,
    HubConfig,
    Name,
    QueueConfig,
    StreamConfig,
)
from eventhub.config.sources import SourceConfig


class EventhubConfig(Model):
    """The root of `eventhub.yaml`."""

    version: Literal[1] = Field(1, description="Version of the configuration format (always 1).")
    hub: HubConfig = Field(default_factory=HubConfig, description="The daemon itself.")
    connections: dict[Name, Connection] = Field(
        default_factory=dict, description="External brokers, referenced by name from sources."
    )
    streams: dict[Name, StreamConfig] = Field(
        default_factory=dict, description="Embedded Kinesis-like streams."
    )
    queues: dict[Name, QueueConfig] = Field(
        default_factory=dict, description="Embedded SQS-like queues."
    )
    functions: dict[Name, FunctionConfig] = Field(
        default_factory=dict, description="Handler functions."
    )
    sources: dict[Name, SourceConfig] = Field(
        default_factory=dict, description="Triggers and event source mappings, by name."
    )
