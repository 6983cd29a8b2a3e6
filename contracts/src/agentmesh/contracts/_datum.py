"""Model -> the datum fastavro writes: a plain dump, with union branches named where needed.

fastavro picks a union branch by the ``(name, value)`` tuple form. Only unions of two or more
records need it (e.g. ``AgentEvent.body``); their paths are found once per model class, so
the dump itself stays in pydantic's compiled core.
"""

from __future__ import annotations

import types
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from agentmesh.contracts._base import Contract

__all__ = ["to_datum"]

Path = tuple[str, ...]


def to_datum(message: Contract) -> dict[str, Any]:
    """The Avro datum of ``message`` for ``fastavro.schemaless_writer``."""
    datum: dict[str, Any] = message.model_dump()
    for path in _union_paths(type(message)):
        _tag(message, datum, path)
    return datum


def _tag(message: Any, datum: dict[str, Any], path: Path) -> None:
    *parents, last = path
    for name in parents:
        message, datum = getattr(message, name), datum[name]
        if message is None:
            return
    branch = getattr(message, last)
    if isinstance(branch, Contract):
        datum[last] = (type(branch).avro_fullname(), datum[last])


@cache
def _union_paths(model: type[Contract]) -> tuple[Path, ...]:
    paths: list[Path] = []
    for name, info in model.model_fields.items():
        records = _record_types(info.annotation)
        if len(records) > 1:
            paths.append((name,))
        elif len(records) == 1:
            paths.extend((name, *sub) for sub in _union_paths(records[0]))
    return tuple(paths)


def _record_types(ann: Any) -> list[type[Contract]]:
    origin = get_origin(ann)
    if origin is Annotated:
        return _record_types(get_args(ann)[0])
    if origin in (Union, types.UnionType):
        return [t for a in get_args(ann) for t in _record_types(a)]
    if isinstance(ann, type) and issubclass(ann, Contract):
        return [ann]
    return []
