"""Recordings: each step's input and each of its calls, written in the step's transaction.

The recording interceptor sits between metering and the journal, so it sees every call the
handler made, answered by the provider or (after a crash) from the journal, with the request
as it was sent (after the budget cap). The processor takes a step's recordings when the step
ends and writes them with its ``step_finished`` event: ids come from the call id, and only
the run that commits is visible, so a call repeated after a crash is recorded once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from agentmesh.agents._interceptors import Call, CallResult, Interceptor, Next
from agentmesh.agents._llm import LlmResponse
from agentmesh.agents._records import Emission
from agentmesh.agents._redact import Redactor
from agentmesh.contracts import Codec, EmittedHandoff, Handoff, Recording, SchemaStore, Topics

if TYPE_CHECKING:
    from agentmesh.core.policy._model import RecordingPolicy

__all__ = ["Recorder", "recording"]

_ERROR_MAX = 2000


@dataclass(slots=True)
class _Step:
    envelope: Handoff[Any]
    input: Recording
    redact: Redactor  # knows the values blanked so far in the step, to blank them in text
    calls: dict[str, Recording] = field(default_factory=dict)


class Recorder:
    """Builds (redacted) recordings of the steps in flight and turns them into emissions."""

    def __init__(
        self,
        policy: RecordingPolicy,
        topics: Topics,
        *,
        claim_threshold: int = 512 * 1024,
        max_claim_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.full = policy.mode == "full"
        self.redact = Redactor.of(policy.redact.paths, policy.redact.patterns)
        self.topic = topics.recordings
        self.claim_threshold = claim_threshold
        self.max_claim_bytes = max_claim_bytes
        self.codec: Codec[Recording] | None = None
        self._steps: dict[str, _Step] = {}

    async def register(self, registry: SchemaStore) -> None:
        self.codec = Codec(Recording, Topics.subject(self.topic), registry)
        await self.codec.register()

    def begin(self, envelope: Handoff[Any]) -> None:
        """A step starts (again): what an aborted run of it collected is dropped."""
        self._steps[envelope.handoff_id] = self._step(envelope)

    def emissions(self, envelope: Handoff[Any]) -> list[Emission]:
        """The step's input and calls, to write in its transaction (the step is forgotten)."""
        step = self._steps.pop(envelope.handoff_id, None) or self._step(envelope)
        return [self._emission(r) for r in (step.input, *step.calls.values())]

    def finished(
        self,
        envelope: Handoff[Any],
        outcome: str,
        emitted: Sequence[tuple[Handoff[Any], EmittedHandoff]] = (),
        result: BaseModel | None = None,
        error: BaseException | None = None,
    ) -> None:
        """How the step ended, kept on its input's recording (written in the same
        transaction): what replay compares with, whatever the events' retention."""
        step = self._steps.get(envelope.handoff_id)
        if step is None:
            return
        redact = step.redact.child()
        handoffs = [
            {
                "handoff_id": e.handoff_id,
                "to_agent": e.to_agent,
                "payload_hash": e.payload_hash,
                **({"payload": self._redacted(child.payload, redact)} if self.full else {}),
            }
            for child, e in emitted
        ]
        kept = None if result is None or not self.full else self._redacted(result, redact)
        message = None if error is None else redact.text(f"{type(error).__name__}: {error}")
        step.input = step.input.model_copy(
            update={
                "outcome": outcome,
                "handoffs_json": _dumps(handoffs),
                "result_json": _dumps(kept),
                "error": None if message is None else message[:_ERROR_MAX],
                "redacted": step.input.redacted + (redact.count if self.full else 0),
            }
        )

    @staticmethod
    def _redacted(model: BaseModel, redact: Redactor) -> Any:
        return redact.data(model.model_dump(mode="json"))

    def _step(self, envelope: Handoff[Any]) -> _Step:
        redact = self.redact.child()
        return _Step(envelope, self._input(envelope, redact), redact)

    def call(
        self, call: Call, result: CallResult | None, error: BaseException | None, ms: float
    ) -> None:
        """Record one finished call of a step begun before (the last attempt's wins)."""
        step = self._steps.get(call.call_id.rpartition(":")[0])
        if step is None:
            return  # a call outside a step the processor runs (e.g. a test harness)
        redact = step.redact.child()
        fields = _llm_fields(call, result) if call.kind == "llm" else {}
        # Redacted even when not kept (metadata): what the paths blank is blanked in the error.
        request, response = self._bodies(call, result, redact)
        message = None if error is None else redact.text(f"{type(error).__name__}: {error}")
        step.redact.literals |= redact.literals
        step.calls[call.call_id] = Recording(
            recording_id=call.call_id,
            task_id=step.envelope.task_id,
            agent=step.envelope.to_agent,
            handoff_id=step.envelope.handoff_id,
            hop=step.envelope.hop,
            kind="llm_call" if call.kind == "llm" else "tool_call",
            mode="full" if self.full else "metadata",
            call_id=call.call_id,
            seq=call.seq,
            target=call.target,
            status="ok" if error is None else "error",
            error=None if message is None else message[:_ERROR_MAX],
            replayed=bool(result and result.replayed),
            latency_ms=ms,
            request_json=_dumps(request) if self.full else None,
            response_json=_dumps(response) if self.full else None,
            redacted=redact.count if self.full else 0,
            **fields,
        )

    def _input(self, envelope: Handoff[Any], redact: Redactor) -> Recording:
        body = envelope.model_dump(mode="json")
        body["payload"] = redact.data(body["payload"])
        body = redact.text_in(body)
        return Recording(
            recording_id=f"{envelope.handoff_id}:input",
            task_id=envelope.task_id,
            agent=envelope.to_agent,
            handoff_id=envelope.handoff_id,
            hop=envelope.hop,
            kind="step_input",
            mode="full" if self.full else "metadata",
            request_json=_dumps(body) if self.full else None,
            redacted=redact.count if self.full else 0,
        )

    def _bodies(self, call: Call, result: CallResult | None, redact: Redactor) -> tuple[Any, Any]:
        if call.kind == "llm":
            model, request = call.request
            value = None if result is None else result.value
            return _llm_request(model, request, redact), _llm_response(request, value, redact)
        _, args = call.request  # (ToolSpec, validated arguments model)
        arguments = redact.data(args.model_dump(mode="json"))
        if result is None:
            return {"arguments": arguments}, None
        value = result.value
        dumped = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
        return {"arguments": arguments}, {"result": redact.data(dumped)}

    def _emission(self, rec: Recording) -> Emission:
        assert self.codec is not None, "Recorder.register() first"
        value = self.codec.encode(rec)
        if len(value) > self.max_claim_bytes:
            # Still recorded, without the bodies: the step must not fail for its recording.
            note = f"bodies of {len(value)} bytes not recorded (claim-check limit)"
            slim = rec.model_copy(update={"request_json": None, "response_json": None})
            value = self.codec.encode(slim.model_copy(update={"error": rec.error or note}))
        claim = len(value) > self.claim_threshold
        return Emission(self.topic, rec.task_id.encode(), value, claim=claim)


def recording(recorder: Recorder) -> Interceptor:
    """Record the call and its outcome (after metering, before the journal answers it)."""

    async def record(call: Call, proceed: Next) -> CallResult:
        start = time.perf_counter()
        try:
            result = await proceed(call)
        except Exception as exc:
            recorder.call(call, None, exc, (time.perf_counter() - start) * 1000)
            raise
        recorder.call(call, result, None, (time.perf_counter() - start) * 1000)
        return result

    return record


def _llm_request(model: Any, request: Any, redact: Redactor) -> Any:
    return redact.text_in(
        {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "tools": _offered_tools(model),
            "output_schema": request.output_schema,
            "parameters": {
                "model": request.model,
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
                "max_total_tokens": request.max_total_tokens,
            },
        }
    )


def _llm_response(request: Any, resp: LlmResponse | None, redact: Redactor) -> Any:
    if resp is None:
        return None
    extra = dict(resp.extra)
    # Paths first: what they blank is then blanked in the text too.
    tool_calls = [
        {**c, "arguments": redact.data(c.get("arguments"))}
        for c in extra.pop("tool_calls", None) or []
        if isinstance(c, dict)
    ]
    structured = None
    if request.output_schema is not None:
        try:
            structured = redact.data(orjson.loads(resp.text))
        except orjson.JSONDecodeError:
            structured = None
    # Structured output's text is the same JSON: shown as redacted.
    text = redact.text(resp.text) if structured is None else orjson.dumps(structured).decode()
    return {
        "text": text,
        "tool_calls": tool_calls,
        "structured": structured,
        "usage": _usage(resp),
        "extra": redact.text_in(extra),
    }


def _llm_fields(call: Call, result: CallResult | None) -> dict[str, Any]:
    model, request = call.request
    resp: LlmResponse | None = None if result is None else result.value
    return {
        "model": resp.model if resp else request.model or getattr(model, "model", None),
        "prompt_name": request.prompt_name,
        "prompt_version": request.prompt_version,
        "input_tokens": resp.input_tokens if resp else None,
        "output_tokens": resp.output_tokens if resp else None,
        "cost_usd": resp.cost_usd if resp else None,
    }


def _usage(resp: LlmResponse) -> dict[str, Any]:
    cost = None if resp.cost_usd is None else str(resp.cost_usd)
    return {
        "provider": resp.provider,
        "model": resp.model,
        "input_tokens": resp.input_tokens,
        "output_tokens": resp.output_tokens,
        "cost_usd": cost,
    }


def _offered_tools(model: Any) -> list[dict[str, Any]]:
    tools = getattr(getattr(model, "config", None), "tools", None) or ()
    return [
        dataclasses.asdict(t)
        for t in tools
        if dataclasses.is_dataclass(t) and not isinstance(t, type)
    ]


def _dumps(body: Any) -> str | None:
    return None if body is None else orjson.dumps(body, default=str).decode()
