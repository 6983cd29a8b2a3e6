"""What agents report about their work: the stream the supervisor and timelines are built from."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract, Usd
from agentmesh.contracts._common import new_id, utcnow

__all__ = [
    "AgentEvent",
    "EmittedHandoff",
    "EventBody",
    "HandoffEmitted",
    "LlmCall",
    "StepFinished",
    "StepStarted",
    "TaskCompleted",
    "TaskFailed",
    "ToolCall",
]


class StepStarted(Contract):
    """An agent began handling one input (not written since event v2: see StepFinished)."""

    kind: Literal["step_started"] = "step_started"
    handoff_id: str
    input_topic: str
    input_partition: int
    input_offset: int


class EmittedHandoff(Contract):
    """One handoff a step emitted, as its step_finished event records it."""

    handoff_id: str
    to_agent: str
    hop: int
    payload_hash: str = Field(description="sha256 of the target and canonical payload")
    size_bytes: int


class StepFinished(Contract):
    """An agent finished handling one input.

    Written in the step's transaction, so it is the first thing anyone sees of the step;
    it names the input it consumed (a separate "started" event would only ever become
    visible together with it).
    """

    kind: Literal["step_finished"] = "step_finished"
    handoff_id: str
    # "waiting": the step emitted nothing yet (e.g. a fan-in that has not got every part).
    outcome: Literal[
        "handoff", "result", "waiting", "review", "failed", "cancelled", "dead_lettered"
    ]
    duration_ms: float
    input_topic: str | None = None
    input_partition: int | None = None
    input_offset: int | None = None
    attempts: int | None = None
    handoffs: list[EmittedHandoff] = Field(
        default_factory=list, description="what the step handed on (loop detection, timelines)"
    )


class LlmCall(Contract):
    """One model call, metered."""

    kind: Literal["llm_call"] = "llm_call"
    call_id: str
    provider: str
    model: str
    prompt_name: str | None = None
    prompt_version: str | None = None
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cost_usd: Usd | None = Field(default=None, description="null when the price is unknown")
    latency_ms: float
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    replayed: bool = Field(default=False, description="answered from the journal, not paid again")
    attempt_of: str | None = Field(
        default=None,
        description="set on a failed member attempt inside a fallback chain: the chain "
        "call's call_id (counts for the member's breaker, not as a step or a call)",
    )


class ToolCall(Contract):
    """One tool call."""

    kind: Literal["tool_call"] = "tool_call"
    call_id: str
    tool: str
    status: Literal["ok", "error", "timeout", "invalid_args", "breaker_open", "cancelled"]
    latency_ms: float
    attempts: int = 1
    error: str | None = None
    replayed: bool = False


class HandoffEmitted(Contract):
    """An agent handed work on (not written since event v3: see StepFinished.handoffs)."""

    kind: Literal["handoff_emitted"] = "handoff_emitted"
    handoff_id: str
    to_agent: str
    hop: int
    payload_hash: str = Field(description="sha256 of the canonical payload: loop detection")
    size_bytes: int


class TaskCompleted(Contract):
    """The task produced its final result."""

    kind: Literal["task_completed"] = "task_completed"
    output_json: str


class TaskFailed(Contract):
    """The task ended without a result."""

    kind: Literal["task_failed"] = "task_failed"
    error_class: str
    message: str


EventBody = Annotated[
    StepStarted | StepFinished | LlmCall | ToolCall | HandoffEmitted | TaskCompleted | TaskFailed,
    Field(discriminator="kind"),
]


class AgentEvent(Contract):
    """One event on ``<ns>.events`` (keyed by task id)."""

    event_id: str = Field(default_factory=new_id, description="the supervisor's dedup key")
    task_id: str
    agent: str
    instance: str = Field(description="the process that wrote it")
    seq: int = Field(ge=0, description="per-instance sequence number")
    at: AwareDatetime = Field(default_factory=utcnow)
    tenant: str = "default"
    step: int = Field(default=0, ge=0, description="the agent's step within the task")
    trace_id: str | None = None
    body: EventBody
