"""The configuration reference is generated from the models and checked in up to date."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from eventhub.config import EventhubConfig, parse_config
from eventhub.config.docs import all_sections, examples, render, type_text
from eventhub.config.models import FunctionConfig
from eventhub.config.schema import tagged_models
from eventhub.config.sources import HttpSourceConfig, KafkaSourceConfig, SourceConfig

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"


def reachable_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """Every model a file can hold below ``model``, found from the annotations alone."""
    if model in seen:
        return seen
    seen.add(model)

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            reachable_models(tp, seen)
        for arg in get_args(tp):
            visit(arg)

    for info in model.model_fields.values():
        visit(info.annotation)
    return seen


MODELS = sorted(reachable_models(EventhubConfig, set()), key=lambda m: m.__name__)


def test_reference_is_up_to_date() -> None:
    assert DOC.exists(), "docs/configuration.md is missing: run `make docs`"
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale (the config models changed): run `make docs` "
        "and commit the result"
    )


def test_module_prints_the_reference() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eventhub.config.docs"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout == render()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    missing = [name for name, info in model.model_fields.items() if not info.description]
    assert missing == [], f"{model.__name__}: fields without a description: {missing}"
    assert (model.__doc__ or "").strip(), f"{model.__name__} needs a docstring (section intro)"


def test_every_model_has_a_section() -> None:
    documented = {section.model for section in all_sections()}
    assert set(MODELS) - documented == set()


def test_every_field_has_a_row() -> None:
    text = render()
    for section in all_sections():
        for name, info in section.model.model_fields.items():
            key = info.alias or name
            assert f"| `{key}` |" in text, f"{section.title}: no row for {key}"
    assert "`async_`" not in text


def test_every_source_type_has_a_section() -> None:
    headings = set(re.findall(r"^#+ `sources\.NAME` \(type: (\w+)\)$", render(), re.M))
    assert headings == set(tagged_models(SourceConfig))
    assert headings == {"stream", "kafka", "queue", "rabbitmq", "http", "files", "schedule"}


def rows(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            out.setdefault(cells[0], cells)
    return out


def test_rows_show_type_default_and_constraints() -> None:
    table = rows(render())
    assert table["`batch_size`"] == [
        "`batch_size`",
        "integer",
        "`100`",
        "Most records per invocation. Range 1 to 10000.",
    ]
    assert table["`handler`"][1:3] == ["string", "**required**"]
    assert "Must be `module:function` or `module.function`" in table["`handler`"][3]
    assert table["`runtime`"][1] == "`inline` or `process`"
    assert table["`payload_format`"][1:3] == ['`"1.0"` or `"2.0"`', '`"2.0"`']
    assert table["`log_level`"][1] == "`debug`, `info`, `warning` or `error`"
    assert table["`reserved_concurrency`"][1:3] == ["integer or null", "`null`"]
    assert table["`on_success`"][1] == "[destination](#destinations) or null"
    assert table["`function`"][1] == "name"
    assert table["`account_id`"][2] == '`"000000000000"`'
    assert table["`async`"][1].startswith("mapping, see [`functions.NAME.async`]")


def test_type_text_of_unions_and_containers() -> None:
    topics = KafkaSourceConfig.model_fields["topics"]
    assert type_text(topics.annotation, topics.metadata) == "list of string"
    env = FunctionConfig.model_fields["environment"]
    assert type_text(env.annotation) == "mapping of string to string"
    position = KafkaSourceConfig.model_fields["starting_position"]
    assert type_text(position.annotation) == "`trim_horizon`, `latest` or `at_timestamp`"
    assert type_text(HttpSourceConfig.model_fields["auth"].annotation) == "mapping or null"


def referenced_variables(text: str) -> dict[str, str]:
    return {name: "from-the-environment" for name in re.findall(r"\$\{(\w+)\}", text)}


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.splitlines()[1][:40])
def test_every_example_is_a_valid_file(example: str) -> None:
    parse_config(example, referenced_variables(example), filename="example.yaml")


def test_every_yaml_block_of_the_reference_is_valid() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", render(), re.S)
    assert len(blocks) == len(examples())
    for block in blocks:
        parse_config(block, referenced_variables(block), filename="docs/configuration.md")


def test_complete_example_uses_every_section_and_source_type() -> None:
    config = parse_config(examples()[-1], referenced_variables(examples()[-1]))
    assert config.hub.auth is not None
    assert {c.type for c in config.connections.values()} == {"kafka", "rabbitmq"}
    assert config.streams
    assert config.queues
    assert config.functions
    assert {s.type for s in config.sources.values()} == set(tagged_models(SourceConfig))


def test_shipped_config_validates() -> None:
    text = (REPO / "config" / "eventhub.yaml").read_text(encoding="utf-8")
    parse_config(text, referenced_variables(text), filename="config/eventhub.yaml")
