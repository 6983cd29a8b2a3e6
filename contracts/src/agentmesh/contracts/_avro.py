"""Avro schemas derived from pydantic models: the models are the one source of truth.

Mapping: ``str`` string, ``int`` long, ``float`` double, ``bool`` boolean, ``bytes`` bytes,
aware ``datetime`` long/timestamp-micros, ``UUID`` string/uuid, ``Usd`` bytes/decimal(22,10),
``Literal[...]`` string, ``X | None`` ["null", X] (default null), ``list[X]`` array,
``dict[str, X]`` map, a ``Contract`` subclass a named record (defined once, then referenced
by name), a union of contracts an Avro union of records.
"""

from __future__ import annotations

import types
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from uuid import UUID

from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from agentmesh.contracts._base import AvroDecimal, Contract

__all__ = ["AvroMappingError", "avro_schema"]

AvroType = str | dict[str, Any] | list[Any]

_PRIMITIVES: dict[type, str] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    bytes: "bytes",
}


class AvroMappingError(TypeError):
    """A model field has a type with no Avro mapping."""


def avro_schema(model: type[Contract]) -> dict[str, Any]:
    """The Avro record schema of ``model`` as a JSON-ready dict."""
    schema = _Generator().record(model)
    assert isinstance(schema, dict)
    return schema


class _Generator:
    def __init__(self) -> None:
        self._defined: set[str] = set()

    def record(self, model: type[BaseModel]) -> AvroType:
        if not issubclass(model, Contract):
            raise AvroMappingError(f"{model.__name__} must subclass contracts.Contract")
        fullname = model.avro_fullname()
        if fullname in self._defined:
            return fullname
        self._defined.add(fullname)
        record: dict[str, Any] = {
            "type": "record",
            "name": model.avro_record_name(),
            "namespace": model.avro_namespace,
        }
        doc = _doc(model)
        if doc:
            record["doc"] = doc
        record["fields"] = [
            self.field(name, info, model) for name, info in model.model_fields.items()
        ]
        return record

    def field(self, name: str, info: FieldInfo, owner: type[BaseModel]) -> dict[str, Any]:
        try:
            avro_type = self.type_of(info.annotation, info.metadata)
        except AvroMappingError as exc:
            raise AvroMappingError(f"{owner.__name__}.{name}: {exc}") from None
        out: dict[str, Any] = {"name": name, "type": avro_type}
        if info.description:
            out["doc"] = info.description
        default = _avro_default(info, avro_type)
        if default is not _NO_DEFAULT:
            out["default"] = default
        return out

    def type_of(self, ann: Any, metadata: list[Any] | None = None) -> AvroType:
        for meta in metadata or ():
            if isinstance(meta, AvroDecimal):
                return _decimal(meta)
        origin = get_origin(ann)
        if origin is Annotated:
            base, *extra = get_args(ann)
            return self.type_of(base, [*extra, *(metadata or ())])
        if origin in (Union, types.UnionType):
            return self._union(get_args(ann))
        if origin is Literal:
            if not all(isinstance(v, str) for v in get_args(ann)):
                raise AvroMappingError(f"only string literals map to Avro, not {ann!r}")
            return "string"
        if origin is list:
            return {"type": "array", "items": self.type_of(get_args(ann)[0])}
        if origin is dict:
            key, value = get_args(ann)
            if key is not str:
                raise AvroMappingError("Avro maps need str keys")
            return {"type": "map", "values": self.type_of(value)}
        return self._scalar_or_record(ann)

    def _scalar_or_record(self, ann: Any) -> AvroType:
        if isinstance(ann, TypeVar):
            # An unparametrised generic payload: a placeholder record the composer replaces.
            return {"type": "record", "name": "Payload", "namespace": "dev.agentmesh", "fields": []}
        if ann in _PRIMITIVES:
            return _PRIMITIVES[ann]
        if ann in (datetime, AwareDatetime):
            return {"type": "long", "logicalType": "timestamp-micros"}
        if ann is UUID:
            return {"type": "string", "logicalType": "uuid"}
        if ann is Decimal:
            raise AvroMappingError("Decimal needs precision and scale: use contracts.Usd")
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return self.record(ann)
        raise AvroMappingError(f"no Avro mapping for {ann!r}")

    def _union(self, args: tuple[Any, ...]) -> list[Any]:
        branches = [self.type_of(a) for a in args if a is not type(None)]
        return ["null", *branches] if type(None) in args else branches


def _decimal(meta: AvroDecimal) -> dict[str, Any]:
    return {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": meta.precision,
        "scale": meta.scale,
    }


_NO_DEFAULT = object()


def _avro_default(info: FieldInfo, avro_type: AvroType) -> Any:
    """The Avro default of a field, or ``_NO_DEFAULT`` when it has none in Avro terms.

    Factories that make a fresh value each time (ids, timestamps) have no Avro default: every
    writer fills them in. Empty containers and all-default records do.
    """
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, Contract):
            return value.model_dump(mode="json")
        if value in ([], {}):
            return value
        return _NO_DEFAULT
    if info.default is PydanticUndefined:
        return _NO_DEFAULT
    value = info.default
    if value is None:
        if not (isinstance(avro_type, list) and avro_type[0] == "null"):
            raise AvroMappingError("a None default needs an Optional field")
        return None
    if isinstance(avro_type, list) and avro_type[0] == "null":
        raise AvroMappingError("an Optional field's default must be None (Avro unions)")
    if isinstance(value, str | int | float | bool):
        return value
    raise AvroMappingError(f"default {value!r} has no JSON form for Avro")


def _doc(model: type[BaseModel]) -> str:
    doc = model.__doc__ or ""
    if doc.startswith(("A base class for creating Pydantic models", "Usage docs:")):
        return ""
    return " ".join(doc.strip().split("\n\n", 1)[0].split())
