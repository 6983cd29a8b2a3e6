"""Changing parked work: a reviewer's edited payload, an extended budget.

Neither the supervisor nor the gateway imports the agents' payload models: the parked
handoff is decoded with the schema it was written with (from the registry), the datum
changed, checked against that same schema and written back under the same schema id. The
gateway runs it to refuse a bad edit before accepting a decision; the supervisor to release.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import orjson
from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from agentmesh.contracts._common import Budget
from agentmesh.contracts._datum import to_datum
from agentmesh.contracts._registry import SchemaStore
from agentmesh.contracts._wire import HEADER_SIZE, read_header

__all__ = ["EditRejected", "rewrite_handoff"]


class EditRejected(ValueError):
    """The edited payload does not fit the handoff's schema; ``field`` names where."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


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
        validate(datum, schema, raise_errors=True, strict=True)
    except ValidationError as exc:
        found = list(getattr(exc, "errors", None) or [])
        field = str(getattr(found[0], "field", "") or "") if found else ""
        # fastavro names a field by its record's full name (dev.agentmesh.Refund.order).
        raise EditRejected(
            f"edited payload does not fit the handoff schema: {exc}", field.rsplit(".", 1)[-1]
        ) from None
    out = io.BytesIO()
    out.write(value[:HEADER_SIZE])
    schemaless_writer(out, schema, datum)
    return out.getvalue()
