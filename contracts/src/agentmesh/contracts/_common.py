"""Value types shared by several messages."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract, Usd

__all__ = ["Budget", "ContextRef", "new_id", "utcnow"]


def new_id() -> str:
    """A fresh random id (128 bits as 32 hex characters) for tasks, handoffs, events."""
    # Same shape as uuid4().hex at a fraction of the cost: several are made per handoff.
    return os.urandom(16).hex()


def utcnow() -> datetime:
    """Now, timezone-aware (every timestamp in agentmesh is UTC and aware)."""
    return datetime.now(UTC)


class Budget(Contract):
    """Limits of one task; unset means unlimited. On a handoff: what remains."""

    max_tokens: int | None = Field(default=None, ge=0, description="input + output tokens")
    max_cost_usd: Usd | None = Field(default=None, ge=0)
    max_steps: int | None = Field(default=None, ge=0, description="LLM calls + tool calls")
    max_hops: int | None = Field(default=None, ge=0, description="handoffs between agents")
    deadline: AwareDatetime | None = Field(default=None, description="wall-clock limit")


class ContextRef(Contract):
    """A pointer to context that travels by reference instead of inside the message."""

    kind: Literal["claim_check", "journal", "handoff", "url"]
    ref: str = Field(description="where to fetch it: content hash, journal key, handoff id, URL")
    summary: str | None = Field(default=None, max_length=2000)
    size_bytes: int | None = Field(default=None, ge=0)
