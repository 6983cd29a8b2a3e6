"""Checking a reviewer's edited payload before the decision is accepted.

The supervisor applies an edit to the parked message under the schema it was written with;
an edit that does not fit would fail there and end the work. The gateway makes the same
change first (``agentmesh.contracts.rewrite_handoff``), so a bad edit is refused (422, naming the
field) and the item stays pending.
"""

from __future__ import annotations

from typing import Any

import orjson

from agentmesh.contracts import (
    CLAIM_HEADER,
    EditRejected,
    ReviewRequest,
    SchemaRegistry,
    rewrite_handoff,
)

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
    if any(h.key == CLAIM_HEADER for h in request.parked_headers):
        return (
            "decision",
            "a claim-checked (large) payload cannot be edited: approve or reject it",
        )
    try:
        await rewrite_handoff(
            registry, request.parked_value, payload_json=orjson.dumps(edited).decode()
        )
    except EditRejected as exc:
        where = f"edited_payload.{exc.field}" if exc.field else "edited_payload"
        return (where, str(exc))
    return None
