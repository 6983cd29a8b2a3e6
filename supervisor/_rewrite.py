"""Changing parked work on release: a reviewer's edited payload, an extended budget.

The supervisor does not import the agents' payload models: it decodes the parked handoff
with the schema it was written with (from the registry), changes the datum, checks the
result against that same schema and writes it back under the same schema id.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import orjson
from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from contracts import HEADER_SIZE, Budget, SchemaStore, read_header, to_datum

__all__ = ["EditRejected", "rewrite_handoff"]


class EditRejected(ValueError):
    """The edited payload does not fit the handoff's schema (says which field)."""


async def rewrite_handoff(
    registry: SchemaStore,
    value: bytes,
    *,
    payload_json: str | None = None,
    budget_fn: Callable[[Budget], Budget] | None = None,
) -> bytes:
    """``value`` with its payload replaced and/or its budget changed, same schema id."""
    if payload_json is None and budget_fn is None:
        return value
    schema_id = read_header(value)
    schema = await registry.parsed_schema(schema_id)
    datum = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), schema, None)
    if not isinstance(datum, dict):
        raise EditRejected(f"parked value (schema id {schema_id}) is not a handoff record")
    if payload_json is not None:
        try:
            datum["payload"] = orjson.loads(payload_json)
        except orjson.JSONDecodeError as exc:
            raise EditRejected(f"edited payload is not JSON: {exc}") from None
    if budget_fn is not None:
        datum["budget"] = to_datum(budget_fn(Budget.model_validate(datum["budget"])))
    try:
        validate(datum, schema, raise_errors=True)
    except ValidationError as exc:
        raise EditRejected(f"edited payload does not fit the handoff schema: {exc}") from None
    out = io.BytesIO()
    out.write(value[:HEADER_SIZE])
    schemaless_writer(out, schema, datum)
    return out.getvalue()
