"""What a step was given and what its model and tool calls were asked and answered.

Recordings make a task replayable after its inbox records expired: every step's input and
every call's request and response, keyed by task, written in the step's transaction.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from agentmesh.contracts._base import Contract, Usd
from agentmesh.contracts._common import utcnow

__all__ = ["Recording"]


class Recording(Contract):
    """On ``<ns>.recordings`` (keyed by task id); one per step input and per call.

    ``recording_id`` is derived from what it records (``<handoff id>:input`` for a step's
    input, the call's ``call_id`` for a call), so a step redone after a crash writes the same
    ids, and only the run that commits is ever visible. ``request_json`` and
    ``response_json`` are redacted by the policy before they are written, and absent in
    ``metadata`` mode. A step's input recording also says how the step ended (``outcome``,
    ``handoffs_json``, ``result_json``; absent on recordings written before version 2). A
    recording too large for one Kafka message travels by claim-check.
    """

    recording_id: str
    task_id: str
    agent: str
    handoff_id: str
    hop: int = Field(ge=0, description="the step's hop (its input's)")
    kind: Literal["step_input", "llm_call", "tool_call"]
    mode: Literal["full", "metadata"]
    call_id: str | None = Field(default=None, description="<handoff id>:<seq> for a call")
    seq: int | None = Field(default=None, ge=0, description="the call's index within its step")
    target: str | None = Field(default=None, description="tool name, or model provider")
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    replayed: bool = Field(default=False, description="answered from the journal")
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: Usd | None = None
    latency_ms: float | None = None
    request_json: str | None = Field(
        default=None, description="step input: the handoff; call: what was asked (JSON)"
    )
    response_json: str | None = Field(default=None, description="what the call answered (JSON)")
    redacted: int = Field(default=0, ge=0, description="values the policy's redaction replaced")
    # What the step did, on its step_input recording (same transaction): replay compares
    # against these, so it does not need the task's events (which may have expired).
    outcome: str | None = Field(
        default=None, description="step input: how the step ended (as its step_finished says)"
    )
    handoffs_json: str | None = Field(
        default=None,
        description="step input: the handoffs it emitted (JSON list of handoff_id, to_agent, "
        "payload_hash and, in full mode, the redacted payload)",
    )
    result_json: str | None = Field(
        default=None, description="step input: the task's result it gave (redacted; full mode)"
    )
    recorded_at: AwareDatetime = Field(default_factory=utcnow)
