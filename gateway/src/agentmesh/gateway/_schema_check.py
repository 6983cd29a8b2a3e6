"""A task's input against its agent's registered Avro schema, field by field.

The gateway checks input by the entry agent's own model when it has the mesh
(``AGENTMESH_APP``); without it, by the schema registered for the agent's inbox: fields
missing, unknown or of the wrong type, each named as the user wrote it (``input.order``).
What only the model knows (lengths, ranges, validators) the agent itself checks then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from agentmesh.core.submission import Problem
from agentmesh.gateway._json import printable

__all__ = ["Fingerprint", "fingerprint", "schema_problems", "with_defaults"]

# A request as an Idempotency-Key names it: a digest of its agent, tenant and input.
Fingerprint = bytes

_SHOWN = 60
_KINDS = {
    "string": "a string",
    "long": "an integer",
    "int": "an integer",
    "double": "a number",
    "float": "a number",
    "boolean": "a boolean",
    "null": "null",
    "bytes": "bytes",
}


def schema_problems(
    schema: Any, data: Any, named: Mapping[str, Any], at: str = "input"
) -> list[Problem]:
    """What is wrong with ``data`` as the parsed Avro ``schema`` (``named``: its named
    types), each problem at its path from ``at``; empty when it fits."""
    schema = _resolve(schema, named)
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "record":
        return _record_problems(schema, data, named, at)
    if kind == "array" and isinstance(data, list):
        return [
            p
            for i, item in enumerate(data)
            for p in schema_problems(schema["items"], item, named, f"{at}.{i}")
        ]
    if kind == "map" and isinstance(data, dict):
        return [
            p
            for key, value in data.items()
            for p in schema_problems(schema["values"], value, named, f"{at}.{printable(key)}")
        ]
    if isinstance(schema, list) and isinstance(data, dict):
        records = [b for b in (_resolve(b, named) for b in schema) if _is_record(b)]
        if len(records) == 1:
            return _record_problems(records[0], data, named, at)
    if _fits(schema, data, named):
        return []
    return [Problem(at, f"Input should be {_describe(schema, named)} (got {_shown(data)})")]


_INTS = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _fits(schema: Any, data: Any, named: Mapping[str, Any]) -> bool:
    """Whether ``data`` is a value of the (non-record) ``schema``. What this does not know
    (logical types, fixed) passes here: the whole handoff is validated by fastavro after."""
    schema = _resolve(schema, named)
    if isinstance(schema, list):
        return any(_fits(branch, data, named) for branch in schema)
    if isinstance(schema, dict):
        if "logicalType" in schema or schema.get("type") == "fixed":
            return True
        if schema.get("type") == "enum":
            return data in schema["symbols"]
        if _is_record(schema):
            return isinstance(data, dict) and not _record_problems(schema, data, named, "")
        if schema.get("type") in {"array", "map"}:
            return not schema_problems(schema, data, named) and isinstance(data, list | dict)
        schema = schema.get("type")
    if schema in _INTS:
        low, high = _INTS[schema]
        return isinstance(data, int) and not isinstance(data, bool) and low <= data <= high
    return {
        "string": isinstance(data, str),
        "double": isinstance(data, int | float) and not isinstance(data, bool),
        "float": isinstance(data, int | float) and not isinstance(data, bool),
        "boolean": isinstance(data, bool),
        "null": data is None,
    }.get(str(schema), False)


def _record_problems(
    schema: dict[str, Any], data: Any, named: Mapping[str, Any], at: str
) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem(at, f"Input should be an object (got {_shown(data)})")]
    fields = {f["name"]: f for f in schema["fields"]}
    problems: list[Problem] = []
    for name, field in fields.items():
        if name in data:
            problems += schema_problems(field["type"], data[name], named, f"{at}.{name}")
        elif "default" not in field:
            problems.append(Problem(f"{at}.{name}", "Field required"))
    problems += [
        Problem(f"{at}.{printable(key)}", "Extra inputs are not permitted")
        for key in data
        if key not in fields
    ]
    return problems


def _resolve(schema: Any, named: Mapping[str, Any]) -> Any:
    return named.get(schema, schema) if isinstance(schema, str) else schema


def _is_record(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "record"


def _describe(schema: Any, named: Mapping[str, Any]) -> str:
    schema = _resolve(schema, named)
    if isinstance(schema, list):
        return " or ".join(_describe(branch, named) for branch in schema)
    if isinstance(schema, str):
        return _KINDS.get(schema, schema)
    if schema.get("type") == "enum":
        return "one of " + ", ".join(repr(s) for s in schema["symbols"])
    if "logicalType" in schema:
        return f"Avro {schema['logicalType']}"
    return _KINDS.get(schema["type"], f"Avro {schema['type']}")


def _shown(value: Any) -> str:
    text = printable(repr(value))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def fingerprint(agent: str, tenant: str, payload: Any, payload_schema: Any) -> Fingerprint:
    """The request an Idempotency-Key names. Defaults are filled in and integral floats
    read as integers, so the same input written by another client (the CLI writes every
    field, 5 as 5.0) is the same request."""
    data = payload if payload_schema is None else with_defaults(payload_schema, payload)
    text = orjson.dumps([agent, tenant, _canonical(data)], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).digest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def with_defaults(schema: Any, data: Any) -> Any:
    """``data`` with every missing record field that has a default filled in (recursively)."""
    if _is_record(schema) and isinstance(data, dict):
        out = dict(data)
        for f in schema["fields"]:
            if f["name"] not in out and "default" in f:
                out[f["name"]] = f["default"]
            if f["name"] in out:
                out[f["name"]] = with_defaults(f["type"], out[f["name"]])
        return out
    if isinstance(schema, list) and data is not None:
        for branch in schema:
            if _is_record(branch) and isinstance(data, dict):
                return with_defaults(branch, data)
    return data
