"""Checking a reviewer's edited payload before the decision is accepted.

The supervisor applies an edit to the parked message under the schema it was written with;
an edit that does not fit would fail there and end the work. The gateway checks the same
thing first, so a bad edit is refused (422, naming the field) and the item stays pending.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader
from fastavro.validation import ValidationError, validate

from contracts import HEADER_SIZE, ReviewRequest, SchemaRegistry, read_header

__all__ = ["edit_problem"]


async def edit_problem(
    registry: SchemaRegistry, request: ReviewRequest, edited: dict[str, Any]
) -> tuple[str, str] | None:
    """(field, what is wrong) if ``edited`` cannot replace the parked payload; else None."""
    if request.kind == "tool_call":
        return (
            "decision",
            "a held tool call cannot be edited (the agent computes its arguments): approve "
            "or reject it",
        )
    if any(h.key == "agentmesh-claim" for h in request.parked_headers):
        return (
            "decision",
            "a claim-checked (large) payload cannot be edited: approve or reject it",
        )
    schema_id = read_header(request.parked_value)
    schema = await registry.parsed_schema(schema_id)
    datum = schemaless_reader(io.BytesIO(request.parked_value[HEADER_SIZE:]), schema, None)
    if not isinstance(datum, dict) or "payload" not in datum:
        return ("edited_payload", "the parked message has no payload to edit")
    datum["payload"] = edited
    try:
        validate(datum, schema, raise_errors=True, strict=True)
    except ValidationError as exc:
        found = list(getattr(exc, "errors", None) or [])
        field = str(getattr(found[0], "field", "") or "") if found else ""
        # fastavro names fields by record full name (dev.agentmesh.Refund.order): keep the last.
        short = field.rsplit(".", 1)[-1] if field else ""
        where = f"edited_payload.{short}" if short else "edited_payload"
        return (where, f"the edit does not fit the parked message's schema: {exc}")
    return None
