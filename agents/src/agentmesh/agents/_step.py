"""One input through one agent's handler, with retries: no broker involved.

The worker wraps this in a Kafka transaction; the test harness calls it directly.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from agentmesh.agents._context import Context, StepEnv
from agentmesh.agents._errors import (
    BudgetExceeded,
    CallNotRecorded,
    HandoffNotAllowedError,
    ReviewRequired,
    StepStopped,
    ToolArgumentsError,
    ToolBreakerOpen,
    UnknownAgentError,
    UnknownToolError,
)
from agentmesh.agents._ledger import StepLedger
from agentmesh.agents._outcome import normalize
from agentmesh.agents._split import keep, split_budget
from agentmesh.agents._state import TaskState
from agentmesh.contracts import Contract, Handoff, PayloadValidationError

__all__ = ["MAX_CONTEXT_REFS", "PERMANENT", "StepOutcome", "run_step"]

MAX_CONTEXT_REFS = 16
"""References a handoff carries at most (the newest); summaries are capped at 2,000 chars."""

# Retrying these cannot help: the same input and journal give the same answer, or a
# control rule / budget says stop. They are routed at once.
PERMANENT: tuple[type[BaseException], ...] = (
    CallNotRecorded,
    StepStopped,
    ReviewRequired,
    BudgetExceeded,
    UnknownAgentError,
    HandoffNotAllowedError,
    UnknownToolError,
    PayloadValidationError,
    ToolArgumentsError,
    ToolBreakerOpen,
)

_HANDOFF_IDS = uuid.UUID("6f0c59a4-4b9e-4a8e-9a51-7c6f3a1d2e10")


@dataclass(slots=True)
class StepOutcome:
    """What a step produced, or the error it ended with after ``attempts``."""

    attempts: int
    duration_ms: float
    handoffs: list[Handoff[Any]] = field(default_factory=list)
    output: Contract | None = None
    error: BaseException | None = None
    ledger: StepLedger | None = None
    state: TaskState | None = None  # set when the handler changed ctx.state


async def run_step(
    env: StepEnv, handoff: Handoff[Any], coordinates: tuple[str, int, int] | None = None
) -> StepOutcome:
    """Run the handler, retrying transient failures with backoff; never raises for it."""
    policy = env.agent.policy
    start = time.perf_counter()
    error: BaseException | None = None
    for attempt in range(1, policy.attempts + 1):
        ctx = Context(env, handoff, attempt, coordinates)
        try:
            outcome = await _attempt(env, ctx, handoff)
        except PERMANENT as exc:
            return _failed(exc, attempt, start, ctx)
        except Exception as exc:  # noqa: BLE001 - a handler's bug is data for the dead letter
            error = exc
            if attempt < policy.attempts:
                backoff = min(policy.max_backoff_s, policy.initial_backoff_s * 2 ** (attempt - 1))
                await asyncio.sleep(random.uniform(0, backoff))  # noqa: S311 - jitter, not crypto
            continue
        outcome.attempts = attempt
        outcome.duration_ms = (time.perf_counter() - start) * 1000
        return outcome
    assert error is not None
    return _failed(error, policy.attempts, start, None)


async def _attempt(env: StepEnv, ctx: Context, handoff: Handoff[Any]) -> StepOutcome:
    outgoing, output = normalize(await env.agent.handler(handoff.payload, ctx))
    if (
        output is not None
        and env.agent.output is not None
        and not isinstance(output, env.agent.output)
    ):
        raise TypeError(
            f"agent {env.agent.name!r} returned {type(output).__name__}, "
            f"not its output model {env.agent.output.__name__}"
        )
    for o in outgoing:  # also an Outgoing built by hand, not through ctx.handoff
        env.mesh.check_handoff(env.agent.name, o.to)
    hop = handoff.hop + 1
    if outgoing:
        ctx.ledger.check_hop(hop)
    budgets = split_budget(ctx.ledger.after(), [o.budget for o in outgoing])
    # Deterministic ids: a re-run after a crash emits the same ones, so receivers can
    # recognise a repeat by its idempotency key.
    ids = [uuid.uuid5(_HANDOFF_IDS, f"{handoff.handoff_id}/{i}").hex for i in range(len(outgoing))]
    handoffs = [
        env.mesh.inbox_model(o.to)(
            task_id=handoff.task_id,
            handoff_id=ids[i],
            idempotency_key=ids[i],
            parent_id=handoff.handoff_id,
            from_agent=env.agent.name,
            to_agent=o.to,
            hop=hop,
            tenant=handoff.tenant,
            budget=budgets[i],
            context=[*handoff.context, *o.context][-MAX_CONTEXT_REFS:],
            payload=o.payload,
        )
        for i, o in enumerate(outgoing)
    ]
    _keep_or_pass_on(ctx, bool(outgoing) or output is not None)
    changed = ctx.state if ctx.state.changed else None
    return StepOutcome(1, 0.0, handoffs, output, None, ctx.ledger, changed)


def _keep_or_pass_on(ctx: Context, emitted: bool) -> None:
    # A step that hands nothing on while keeping state (a fan-in waiting for more parts)
    # keeps what remains of its budget for the agent's next step of the task; otherwise
    # what was kept went into this step's ledger, so on with its handoffs, or is let go.
    kept = ctx.state.held and not emitted
    ctx.state.bank(keep(ctx.ledger.after()) if kept else None)


def _failed(error: BaseException, attempts: int, start: float, ctx: Context | None) -> StepOutcome:
    return StepOutcome(
        attempts=attempts,
        duration_ms=(time.perf_counter() - start) * 1000,
        error=error,
        ledger=ctx.ledger if ctx else None,
    )
