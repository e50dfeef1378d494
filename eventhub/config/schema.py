"""Walking the configuration models the way a file is read: which type the value at a key
path is validated against. Error hints (``did you mean``) and the generated reference use it.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from eventhub.config.root import EventhubConfig


def strip_annotated(tp: Any) -> tuple[Any, list[Any]]:
    """The type inside any ``Annotated[...]`` layers, and their metadata in order."""
    metadata: list[Any] = []
    while get_origin(tp) is Annotated:
        tp, *extra = get_args(tp)
        metadata.extend(extra)
    return tp, metadata


def union_members(tp: Any) -> list[Any]:
    """The members of a union (``None`` left out); ``[tp]`` for anything else."""
    tp, _ = strip_annotated(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [m for m in get_args(tp) if m is not type(None)]
    return [tp]


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def type_tag(model: type[BaseModel]) -> str | None:
    """The value of a model's ``type: Literal[...]`` field (the tag of a tagged union)."""
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return str(get_args(field.annotation)[0])


def tagged_models(tp: Any) -> dict[str, type[BaseModel]]:
    """The models of a union selected by ``type``, by tag; empty if ``tp`` is not one."""
    out: dict[str, type[BaseModel]] = {}
    for member in union_members(tp):
        member, _ = strip_annotated(member)
        tag = type_tag(member) if is_model(member) else None
        if tag is not None:
            out[tag] = member
    return out


def yaml_key(name: str, model: type[BaseModel]) -> str:
    """The key a field has in the file: its alias (``async``) or its name."""
    return model.model_fields[name].alias or name


def yaml_keys(model: type[BaseModel]) -> list[str]:
    return [yaml_key(name, model) for name in model.model_fields]


def model_for(tp: Any, node: Any) -> type[BaseModel] | None:
    """The model ``node`` is validated against when its declared type is ``tp``."""
    tagged = tagged_models(tp)
    if tagged:
        return tagged.get(str(node.get("type"))) if isinstance(node, dict) else None
    members = [strip_annotated(m)[0] for m in union_members(tp)]
    models = [m for m in members if is_model(m)]
    return models[0] if len(models) == 1 else None


def _child(tp: Any, key: str | int, node: Any) -> Any:
    model = model_for(tp, node)
    if model is not None:
        for name, field in model.model_fields.items():
            if key in (name, field.alias):
                return field.annotation
        return None
    for member in union_members(tp):
        member, _ = strip_annotated(member)
        origin, args = get_origin(member), get_args(member)
        if origin is dict and isinstance(key, str):
            return args[1]
        if origin is list and isinstance(key, int):
            return args[0]
    return None


def type_at(path: tuple[str | int, ...], data: Any) -> Any:
    """The declared type of the value at ``path`` of the file's ``data`` (None if unknown)."""
    tp: Any = EventhubConfig
    node = data
    for key in path:
        tp = _child(tp, key, node)
        if tp is None:
            return None
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            node = None
    return tp
