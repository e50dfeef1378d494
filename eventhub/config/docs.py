"""The configuration reference (``docs/configuration.md``), generated from the models.

``python -m eventhub.config.docs > docs/configuration.md`` (``make docs``). Every table row
comes from a model field: its YAML key (alias), type, default, description and constraints
(ranges, lengths, patterns, choices). Sections follow the file: the top level, then each
top-level key; a mapping whose entries are chosen by ``type`` (connections, sources) gets
the keys every type has first, then one section per type. The output depends only on the
models and the text at the end of this module, so it can be checked in and compared.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import AfterValidator, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from eventhub.config import destinations
from eventhub.config.base import PATTERN_MEANINGS, Model
from eventhub.config.docs_text import (
    DESTINATION_FORMS,
    DESTINATIONS_INTRO,
    EXAMPLE,
    INTRO,
    SECTION_EXAMPLES,
)
from eventhub.config.models import NAME_PATTERN
from eventhub.config.root import EventhubConfig
from eventhub.config.schema import (
    is_model,
    strip_annotated,
    tagged_models,
    union_members,
    yaml_key,
)

HEADER = (
    "<!-- Generated from the models in eventhub/config/ by `python -m eventhub.config.docs`"
    " (`make docs`). Do not edit by hand. -->\n"
)


@dataclass(frozen=True)
class Section:
    """One table: the keys of ``model`` at ``path`` of the file (for one ``type``: ``label``)."""

    path: str
    model: type[BaseModel]
    label: str = ""
    skip: frozenset[str] = frozenset()
    children: list[Section] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.path} ({self.label})" if self.label else self.path

    @property
    def heading(self) -> str:
        return f"`{self.path}` ({self.label})" if self.label else f"`{self.path}`"

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "top-level"


# --- walking the models --------------------------------------------------------------------


def own_fields(model: type[BaseModel], skip: frozenset[str] = frozenset()) -> list[str]:
    """Field names: ``type`` first, then a class's own fields before the inherited ones."""
    names: list[str] = []
    for cls in model.__mro__:
        for name in cls.__dict__.get("__annotations__", {}):
            if name in model.model_fields and name not in names and name not in skip:
                names.append(name)
    return sorted(names, key=lambda name: name != "type")


def _common_base(models: list[type[BaseModel]]) -> type[BaseModel] | None:
    for cls in models[0].__mro__:
        if cls is Model or not is_model(cls):
            return None
        if all(issubclass(m, cls) for m in models):
            return cls
    return None


def _tagged_sections(path: str, tagged: dict[str, type[BaseModel]]) -> list[Section]:
    base = _common_base(list(tagged.values()))
    out: list[Section] = []
    skip: frozenset[str] = frozenset()
    if base is not None:
        skip = frozenset(base.model_fields)
        out.append(walk(base, path, "every type"))
    out.extend(walk(model, path, f"type: {tag}", skip) for tag, model in tagged.items())
    return out


def _model_of(tp: Any) -> type[BaseModel] | None:
    tp, _ = strip_annotated(tp)
    return tp if is_model(tp) else None


def child_sections(annotation: Any, path: str, label: str) -> list[Section]:
    """Sections of the models a field holds: one mapping, or a mapping of named ones."""
    out: list[Section] = []
    for member in union_members(annotation):
        member, _ = strip_annotated(member)
        args = get_args(member)
        if is_model(member):
            out.append(walk(member, path, label))
        elif get_origin(member) is dict and tagged_models(args[1]):
            out.extend(_tagged_sections(f"{path}.NAME", tagged_models(args[1])))
        elif get_origin(member) is dict and (model := _model_of(args[1])) is not None:
            out.append(walk(model, f"{path}.NAME", label))
        elif get_origin(member) is list and (model := _model_of(args[0])) is not None:
            out.append(walk(model, f"{path}[]", label))
    return out


def walk(
    model: type[BaseModel], path: str, label: str = "", skip: frozenset[str] = frozenset()
) -> Section:
    """The section of ``model`` at ``path`` with the sections of the models below it; the
    sections below one ``type`` carry its label (``sources.NAME.cors (type: http)``)."""
    section = Section(path, model, label, skip)
    inherited = label if label.startswith("type:") else ""
    for name in own_fields(model, skip):
        key = yaml_key(name, model)
        annotation = model.model_fields[name].annotation
        child_path = f"{path}.{key}" if path else key
        section.children.extend(child_sections(annotation, child_path, inherited))
    return section


def all_sections() -> list[Section]:
    """Every section, the top level first, depth first."""
    out: list[Section] = []

    def visit(section: Section) -> None:
        out.append(section)
        for child in section.children:
            visit(child)

    visit(walk(EventhubConfig, ""))
    return out


# --- one field -----------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """A value as written in YAML (quoted when YAML would read the bare text otherwise)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and (value == "" or yaml.safe_load(value) != value):
        return json.dumps(value)
    return str(value)


def _choices(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _flat(metadata: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in metadata:
        out.extend(_flat(item.metadata) if isinstance(item, FieldInfo) else [item])
    return out


_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    datetime: "date-time",
    SecretStr: "string (secret)",
    Any: "any",
}


def type_text(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A field's type in words: ``integer``, ``list of string``, ``"1.0" or "2.0"``."""
    base, _ = strip_annotated(annotation)
    nullable = get_origin(base) in (Union, UnionType) and type(None) in get_args(base)
    texts = [_one_type(member, metadata or []) for member in union_members(annotation)]
    return _choices([*texts, "null"] if nullable else texts)


def _one_type(tp: Any, outer: list[Any]) -> str:
    tp, metadata = strip_annotated(tp)
    metadata = _flat([*outer, *metadata])
    if any(isinstance(m, AfterValidator) and m.func is destinations._check for m in metadata):
        return "[destination](#destinations)"
    if any(getattr(m, "pattern", None) == NAME_PATTERN for m in metadata):
        return "name"
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return _choices([f"`{_scalar(v)}`" for v in args])
    if origin is list:
        return f"list of {_one_type(args[0], [])}"
    if origin is dict:
        if args[1] is Any:
            return "mapping"
        return f"mapping of {_one_type(args[0], [])} to {_one_type(args[1], [])}"
    if tagged_models(tp):
        return "mapping with a `type`"
    if is_model(tp):
        return "mapping"
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "`{}`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{_scalar(value)}`"


def constraint_text(info: FieldInfo) -> str:
    """Ranges, lengths and patterns of a field and of the items and keys it holds."""
    is_list = any(get_origin(strip_annotated(m)[0]) is list for m in union_members(info.annotation))
    parts = [_constraints(_flat(info.metadata), "item" if is_list else "character")]
    for member in union_members(info.annotation):
        member, metadata = strip_annotated(member)
        parts.append(_constraints(_flat(metadata), "character"))
        args = get_args(member)
        if get_origin(member) in (list, dict):
            inner = _constraints(_flat(strip_annotated(args[0])[1]), "character")
            prefix = "Each item" if get_origin(member) is list else "Each key"
            parts.append(f"{prefix} {inner[0].lower()}{inner[1:]}" if inner else "")
    return " ".join(p for p in parts if p)


def _constraints(metadata: list[Any], unit: str) -> str:
    bounds: dict[str, Any] = {}
    out: list[str] = []
    for item in metadata:
        if isinstance(item, at.BaseMetadata):
            for attr in ("ge", "gt", "le", "lt", "min_length", "max_length"):
                if getattr(item, attr, None) is not None:
                    bounds[attr] = getattr(item, attr)
        regex = getattr(item, "pattern", None)
        if regex and regex != NAME_PATTERN:
            meaning = PATTERN_MEANINGS.get(regex)
            out.append(f"Must be {meaning}." if meaning else f"Must match `{regex}`.")
    return " ".join([*_bounds_text(bounds, unit), *out])


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _bounds_text(bounds: dict[str, Any], unit: str) -> list[str]:
    out: list[str] = []
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    if "ge" in bounds and "le" in bounds:
        out.append(f"Range {_scalar(low)} to {_scalar(high)}.")
    else:
        if low is not None:
            out.append(f"{'At least' if 'ge' in bounds else 'Above'} {_scalar(low)}.")
        if high is not None:
            out.append(f"{'At most' if 'le' in bounds else 'Below'} {_scalar(high)}.")
    shortest, longest = bounds.get("min_length"), bounds.get("max_length")
    if shortest is not None and longest is not None:
        out.append(f"{shortest} to {_plural(longest, unit)}.")
    elif shortest is not None:
        out.append(f"At least {_plural(shortest, unit)}.")
    elif longest is not None:
        out.append(f"At most {_plural(longest, unit)}.")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def row(model: type[BaseModel], name: str, link: tuple[str, str] | None) -> str:
    """``| key | type | default | description |`` of one field; ``link``: (text, anchor)."""
    info = model.model_fields[name]
    kind = type_text(info.annotation, info.metadata)
    if link is not None:
        kind = f"{kind}, see [{link[0]}](#{link[1]})"
    description = " ".join(p for p in (info.description or "", constraint_text(info)) if p)
    return f"| `{yaml_key(name, model)}` | {_cell(kind)} | {_cell(default_text(info))} | " + (
        f"{_cell(description)} |"
    )


# --- the document --------------------------------------------------------------------------


def _links(section: Section, top: bool) -> dict[str, tuple[str, str]]:
    """Where the type cell of a key points: its group (top level) or its first section."""
    links: dict[str, tuple[str, str]] = {}
    for child in section.children:
        key = child.path.removeprefix(f"{section.path}." if section.path else "")
        key = key.split(".")[0].removesuffix("[]")
        target = (f"`{key}`", key) if top else (child.heading, child.anchor)
        links.setdefault(key, target)
    return links


def _table(section: Section, top: bool = False) -> list[str]:
    links = _links(section, top)
    names = own_fields(section.model, section.skip)
    rows = [row(section.model, n, links.get(yaml_key(n, section.model))) for n in names]
    return ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |", *rows, ""]


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def render_section(section: Section, level: int) -> list[str]:
    lines = [f'<a id="{section.anchor}"></a>', "", f"{'#' * level} {section.heading}", ""]
    intro = _doc(section.model)
    if section.skip:
        common = Section(section.path, section.model, "every type").anchor
        intro += f" Takes the keys of [every type](#{common}) too."
    lines += [intro, "", *_table(section)]
    example = SECTION_EXAMPLES.get(section.title)
    if example is not None:
        lines += ["Example:", "", "```yaml", example.rstrip("\n"), "```", ""]
    for child in section.children:
        lines += render_section(child, 3)
    return lines


def _groups(root: Section) -> list[tuple[str, list[Section]]]:
    """The sections below each top-level key, in the order of the keys."""
    groups: dict[str, list[Section]] = {}
    for child in root.children:
        groups.setdefault(child.path.split(".")[0], []).append(child)
    return list(groups.items())


def render() -> str:
    """The whole reference, as Markdown."""
    root = walk(EventhubConfig, "")
    lines = [HEADER, INTRO.strip("\n"), "", *_contents(root), "", *_destinations()]
    lines += ['<a id="top-level"></a>', "", "## Top level", "", _doc(root.model), ""]
    lines += _table(root, top=True)
    for key, sections in _groups(root):
        if len(sections) == 1 and sections[0].path == key:
            lines += render_section(sections[0], 2)  # a single mapping: hub
            continue
        description = EventhubConfig.model_fields[key].description or ""
        lines += [f'<a id="{key}"></a>', "", f"## `{key}`", "", description, ""]
        for section in sections:
            lines += render_section(section, 3)
    lines += ["## Complete example", "", "```yaml", EXAMPLE.rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _destinations() -> list[str]:
    rows = [f"| {form} | {_cell(text)} |" for form, text in DESTINATION_FORMS]
    return [DESTINATIONS_INTRO.strip("\n"), "", "| URI | Delivers |", "| --- | --- |", *rows, ""]


def _contents(root: Section) -> list[str]:
    lines = ["## Contents", "", "- [Rules of the file](#rules-of-the-file)"]
    lines += ["- [Destinations](#destinations)", "- [Top level](#top-level)"]

    def add(section: Section, depth: int) -> None:
        lines.append(f"{'  ' * depth}- [{section.heading}](#{section.anchor})")
        for child in section.children:
            add(child, depth + 1)

    for key, sections in _groups(root):
        if len(sections) == 1 and sections[0].path == key:
            add(sections[0], 0)
            continue
        lines.append(f"- [`{key}`](#{key})")
        for section in sections:
            add(section, 1)
    lines.append("- [Complete example](#complete-example)")
    return lines


def examples() -> list[str]:
    """Every YAML example of the reference; each one is a complete, valid file."""
    return [*SECTION_EXAMPLES.values(), EXAMPLE]


if __name__ == "__main__":
    sys.stdout.write(render())
