"""Load one ``.avsc`` file and refuse what a schema registry would refuse.

fastavro's parser checks types, names of referenced types, enum symbols and most defaults,
but lets through a few mistakes that Java (and so the registry) rejects at registration:
duplicate field names, empty or nested unions, a union listing a type twice, and a union
default that does not match the union's *first* branch. Those are checked here, so a bad file
fails on a laptop and not in the deploy pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastavro import parse_schema
from fastavro.schema import SchemaParseException, UnknownType

from agentmesh.contracts._compat_rules import Named, kind_of

__all__ = ["SchemaError", "load_schema", "parse"]


class SchemaError(ValueError):
    """The text is not JSON, or the JSON is not a valid Avro schema; the message says which."""


def load_schema(path: Path) -> tuple[Any, Named]:
    """Read and parse ``path``; returns the parsed schema and its table of named types."""
    try:
        schema = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"not valid JSON: {exc}") from exc
    return parse(schema)


def parse(schema: Any) -> tuple[Any, Named]:
    """Parse a schema given as JSON data; raises :class:`SchemaError` when it is not valid Avro."""
    named: Named = {}
    try:
        parsed = parse_schema(schema, named_schemas=named, _write_hint=False)
    except KeyError as exc:
        # fastavro reports a missing attribute ("items", "symbols", "size") as a bare KeyError.
        raise SchemaError(f"not a valid Avro schema: missing attribute {exc}") from exc
    except UnknownType as exc:
        # fastavro qualifies the unknown name with the enclosing namespace: show both spellings.
        short = exc.name.rpartition(".")[2]
        shown = repr(short) if short == exc.name else f"{short!r} (as {exc.name!r})"
        raise SchemaError(
            f"not a valid Avro schema: unknown type {shown}: neither a primitive type nor a "
            "named type defined earlier in the schema"
        ) from exc
    except (SchemaParseException, ValueError, TypeError) as exc:
        raise SchemaError(f"not a valid Avro schema: {exc}") from exc
    _check(parsed, "")
    return parsed, named


def _check(schema: Any, where: str) -> None:
    kind = kind_of(schema)
    if kind == "union":
        _check_union(schema, where)
    elif kind == "record":
        _check_record(schema)
    elif kind == "array":
        _check(schema["items"], f"{where}.items")
    elif kind == "map":
        _check(schema["values"], f"{where}.values")


def _check_record(record: dict[str, Any]) -> None:
    seen: set[str] = set()
    for field in record["fields"]:
        name = field["name"]
        where = f"{record['name']}.fields.{name}"
        if not isinstance(name, str) or name in seen:
            raise SchemaError(
                f"not a valid Avro schema: field name {name!r} is repeated or not text"
            )
        seen.add(name)
        _check(field["type"], where)
        if "default" in field and kind_of(field["type"]) == "union":
            _check_union_default(field["type"], field["default"], where)


def _check_union(union: list[Any], where: str) -> None:
    branches = [
        branch["name"] if kind_of(branch) in {"record", "enum", "fixed"} else kind_of(branch)
        for branch in union
    ]
    if not branches or "union" in branches or len(set(branches)) != len(branches):
        raise SchemaError(
            f"not a valid Avro schema: the union at {where or 'the root'} ({branches}) must be "
            "non-empty, list each type once and not contain another union directly"
        )
    for branch in union:
        _check(branch, where)


def _check_union_default(union: list[Any], default: Any, where: str) -> None:
    # The spec ties a union default to the first branch; Java rejects any other default.
    first_is_null = kind_of(union[0]) == "null"
    if (default is None) != first_is_null:
        raise SchemaError(
            f"not a valid Avro schema: the default of {where} must match the union's first type "
            f'({kind_of(union[0])}): put the type of the default first ("null" first for a '
            "default of null)"
        )
