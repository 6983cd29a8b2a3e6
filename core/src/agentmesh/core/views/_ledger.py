"""A task's ledger as the supervisor keeps it: what its budget is enforced on.

The supervisor folds every event of a task into one ledger (``agentmesh.supervisor.TaskLedger``)
and logs each new value to ``<ns>.supervisor-ledgers-changelog``, keyed by the task id and
co-partitioned with ``<ns>.events``. Reading the task's partition of it to the end gives the
ledger as the supervisor last wrote it. The figures mean what the policy's limits mean:

- ``steps``: LLM calls plus tool calls across every agent of the task (``max_steps``), each
  paid call once (``agentmesh.contracts.CallTally``);
- ``tokens``: input plus output tokens of those LLM calls (``max_tokens``);
- ``cost_usd``: their priced cost (``max_cost_usd``; a model with no known price adds 0);
- ``hops``: the longest chain of handoffs so far (``max_hops``).
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from aiokafka import TopicPartition
from pydantic import BaseModel, ConfigDict, Field

from agentmesh.contracts import Budget, Topics
from agentmesh.core._settings import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    make_consumer,
    partition_count,
    partition_for,
)

__all__ = ["TaskLedgerView", "read_ledger"]


class TaskLedgerView(BaseModel):
    """Usage, limits and state of one task, as the supervisor enforces them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str
    tenant: str = "default"
    entry_agent: str | None = None
    submitted_at: datetime | None = None
    status: Literal["running", "stopped", "completed", "failed"] = "running"
    stopped_for: str | None = None
    steps: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    hops: int = Field(default=0, validation_alias="max_hop")
    budget: Budget = Field(default_factory=Budget)
    extensions: int = Field(default=0, description="budget reviews approved so far")

    def lines(self) -> list[tuple[str, str, str]]:
        """(figure, used, limit) rows; the limit is "-" where there is none."""
        b = self.budget

        def limit(value: object) -> str:
            return "-" if value is None else str(value)

        rows = [
            ("steps (LLM + tool calls)", str(self.steps), limit(b.max_steps)),
            ("tokens", str(self.tokens), limit(b.max_tokens)),
            ("cost (USD)", f"{self.cost_usd.normalize():f}", limit(b.max_cost_usd)),
            ("hops", str(self.hops), limit(b.max_hops)),
        ]
        if b.deadline is not None:
            rows.append(("deadline", "", b.deadline.isoformat(timespec="seconds")))
        return rows

    def as_json(self) -> dict[str, Any]:
        b = self.budget
        return {
            "status": self.status,
            "stopped_for": self.stopped_for,
            "used": {
                "steps": self.steps,
                "tokens": self.tokens,
                "cost_usd": str(self.cost_usd),
                "hops": self.hops,
            },
            "limits": {
                "max_steps": b.max_steps,
                "max_tokens": b.max_tokens,
                "max_cost_usd": None if b.max_cost_usd is None else str(b.max_cost_usd),
                "max_hops": b.max_hops,
                "deadline": _iso(b.deadline),
            },
            "extensions": self.extensions,
        }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


async def read_ledger(
    settings: Settings, task_id: str, *, timeout_s: float = 10.0
) -> TaskLedgerView | None:
    """The task's ledger as last written by the supervisor; None if it has none (no
    supervisor runs in this namespace, or it has not seen the task yet)."""
    topics = Topics(settings.namespace)
    conn = KafkaConnection.from_settings(settings)
    count = await partition_count(conn, topics.ledgers, timeout_s=2.0)
    if not count:
        return None
    tp = TopicPartition(topics.ledgers, partition_for(task_id.encode(), count))
    consumer = make_consumer(conn, options=ConsumerOptions(group_id=None, client_suffix="ledger"))
    key = orjson.dumps(task_id)
    found: bytes | None = None
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        deadline = time.monotonic() + timeout_s
        while await consumer.position(tp) < end and time.monotonic() < deadline:
            for record in (await consumer.getmany(tp, timeout_ms=200)).get(tp, []):
                if record.key == key:
                    found = record.value  # None: the task's ledger was deleted
    finally:
        await consumer.stop()
    return None if found is None else TaskLedgerView.model_validate_json(found)
