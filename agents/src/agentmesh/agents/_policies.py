"""The interceptors that make up the call policy: control, budget, metering, journal, retry."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from agentmesh.agents._control import ControlState
from agentmesh.agents._errors import ReviewRequired, StepStopped, ToolBreakerOpen, TransientError
from agentmesh.agents._estimate import estimate_call, output_cap
from agentmesh.agents._interceptors import Call, CallResult, Interceptor, Next
from agentmesh.agents._journal import JournalView
from agentmesh.agents._ledger import StepLedger
from agentmesh.agents._llm import LlmResponse
from agentmesh.agents._tools import RetryPolicy
from agentmesh.contracts import EventBody, JournalEntry, LlmCall, ToolCall
from agentmesh.core.policy import Policy, match_tool_call

__all__ = [
    "RecordedOnly",
    "budget_gate",
    "control_gate",
    "journal_replay",
    "metering",
    "review_gate",
    "tool_retry",
]

Emit = Callable[[EventBody], Awaitable[None]]
Codec = tuple[Callable[[Call, Any], str], Callable[[Call, str], Any]]

TRANSIENT: tuple[type[BaseException], ...] = (TransientError, TimeoutError, ConnectionError)


def control_gate(
    control: ControlState, task_id: str, agent: str, tenant: str = "default"
) -> Interceptor:
    """Stop before the call if the task, agent or mesh is cancelled or the breaker is open."""

    async def gate(call: Call, proceed: Next) -> CallResult:
        rule = control.stopping(task_id, agent, tenant)
        if rule is not None:
            raise StepStopped(rule)
        scope = "tool" if call.kind == "tool" else "model"
        _fail_fast_if_open(control, scope, call.target)
        probing = control.probe(scope, call.target)
        if probing is None:
            return await proceed(call)
        async with probing:
            # Half-open: one call at a time; the one before may have opened it again.
            _fail_fast_if_open(control, scope, call.target)
            return await proceed(call)

    return gate


def _fail_fast_if_open(control: ControlState, scope: str, target: str) -> None:
    breaker = control.breaker(scope, target)
    if breaker is not None:
        raise ToolBreakerOpen(
            f"{scope} {target!r}: circuit breaker open since "
            f"{breaker.issued_at.isoformat()} ({breaker.reason}); failing fast"
        )


def review_gate(policy: Policy, approved: bool) -> Interceptor:
    """Park the step before a tool call that a review rule says needs a person's approval.

    A step released by a reviewer (``approved``) runs its gated calls: the approval was
    for this step's input, which is exactly what the reviewer was shown.
    """

    async def gate(call: Call, proceed: Next) -> CallResult:
        if call.kind == "tool" and not approved:
            _, args = call.request  # (ToolSpec, validated arguments model)
            data = args.model_dump(mode="json")
            match = match_tool_call(policy, call.target, data)
            if match is not None:
                raise ReviewRequired(
                    "tool_call",
                    f"{match.reason}: tool {call.target!r}",
                    orjson.dumps({"tool": call.target, "arguments": data}).decode(),
                    approvals=match.rule.approvals,
                    timeout_s=match.timeout_s,
                    on_timeout=match.on_timeout,
                    target=call.target,
                )
        return await proceed(call)

    return gate


def budget_gate(ledger: StepLedger) -> Interceptor:
    """Refuse a call the remaining budget does not allow; cap a model call's output to it.

    A model call's input is counted first (:func:`estimate_call`): the call is refused if
    what remains cannot cover it, else its maximum output tokens is lowered to what is left
    after it, so the call cannot spend past what remains of tokens or (priced) cost.
    """

    async def gate(call: Call, proceed: Next) -> CallResult:
        if call.kind != "llm":
            ledger.check_before_call()
            return await proceed(call)
        model, request = call.request
        estimate = estimate_call(model, request)
        cap = ledger.check_llm_call(estimate)
        if cap is not None:
            send = output_cap(request, estimate, cap)
            capped = dataclasses.replace(
                request,
                max_tokens=request.max_tokens if send is None else send,
                max_total_tokens=estimate.input_tokens + cap,
            )
            call.request = (model, capped)
        return await proceed(call)

    return gate


def metering(ledger: StepLedger, emit: Emit) -> Interceptor:
    """Time the call, add its usage to the ledger and write its event at once."""

    async def meter(call: Call, proceed: Next) -> CallResult:
        start = time.perf_counter()
        try:
            result = await proceed(call)
        except Exception as exc:
            # A fallback chain that rejected every reply still paid for them.
            paid = _paid(exc)
            ledger.add(tokens=paid.input_tokens + paid.output_tokens, cost_usd=paid.cost_usd)
            for attempt in _member_failures(call, getattr(exc, "attempts", None)):
                await emit(attempt)
            await emit(_failed_event(call, exc, (time.perf_counter() - start) * 1000, paid))
            raise
        latency_ms = (time.perf_counter() - start) * 1000
        if call.kind == "llm":
            resp: LlmResponse = result.value
            ledger.add(tokens=resp.input_tokens + resp.output_tokens, cost_usd=resp.cost_usd)
            if not result.replayed:
                for attempt in _member_failures(call, resp.extra.get("fallback")):
                    await emit(attempt)
            await emit(_llm_event(call, resp, latency_ms, result.replayed))
        else:
            ledger.add()
            await emit(
                ToolCall(
                    call_id=call.call_id,
                    tool=call.target,
                    status="ok",
                    latency_ms=latency_ms,
                    attempts=max(1, call.attempts),
                    replayed=result.replayed,
                )
            )
        return result

    return meter


@runtime_checkable
class RecordedOnly(Protocol):
    """A journal that answers from recordings only (``agentmesh replay run``): a call it has
    no answer for must not reach the live model or tool (no network, no cost)."""

    def unanswered(self, call: Call) -> None:
        """Raise for ``call`` (its recorded failure, or that it was never recorded); return
        only to let it through (a fork's live steps)."""


def journal_replay(
    journal: JournalView, task_id: str, handoff_id: str, codec: Codec
) -> Interceptor:
    """Answer from the journal when this call completed before; else call and record it."""
    encode, decode = codec

    async def replay(call: Call, proceed: Next) -> CallResult:
        entry = journal.lookup(handoff_id, call.seq)
        if entry is not None and (entry.kind, entry.target) == (call.kind, call.target):
            return CallResult(decode(call, entry.value_json), replayed=True)
        if isinstance(journal, RecordedOnly):
            journal.unanswered(call)  # a replay: raises rather than call anything live
        result = await proceed(call)
        await journal.record(
            JournalEntry(
                task_id=task_id,
                handoff_id=handoff_id,
                seq=call.seq,
                call_id=call.call_id,
                kind=call.kind,
                target=call.target,
                value_json=encode(call, result.value),
            )
        )
        return result

    return replay


def tool_retry(policy: RetryPolicy, timeout_s: float) -> Interceptor:
    """Per-attempt timeout; retries with backoff and full jitter for transient errors only."""

    async def retry(call: Call, proceed: Next) -> CallResult:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_random_exponential(
                multiplier=policy.initial_backoff_s, max=policy.max_backoff_s
            ),
            retry=retry_if_exception_type(TRANSIENT),
            reraise=True,
        ):
            with attempt:
                call.attempts += 1
                async with asyncio.timeout(timeout_s):
                    return await proceed(call)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    return retry


def _llm_event(call: Call, resp: LlmResponse, latency_ms: float, replayed: bool) -> LlmCall:
    _, request = call.request  # (model, LlmRequest)
    return LlmCall(
        call_id=call.call_id,
        provider=resp.provider,
        model=resp.model,
        prompt_name=request.prompt_name,
        prompt_version=request.prompt_version,
        input_tokens=resp.input_tokens,
        output_tokens=resp.output_tokens,
        cost_usd=resp.cost_usd,
        latency_ms=latency_ms,
        replayed=replayed,
    )


def _member_failures(call: Call, attempts: object) -> list[LlmCall]:
    """One failed event per member of a fallback chain that failed on the way (the chain's
    ``attempts``): the chain may still have answered, but that member's provider breaker
    must count the failure. They are neither steps nor calls of the task (``attempt_of``)."""
    if call.kind != "llm" or not isinstance(attempts, list):
        return []
    _, request = call.request
    return [
        LlmCall(
            call_id=f"{call.call_id}/{i}",
            provider=str(a.get("provider")),
            model=str(a.get("model") or "unknown"),
            prompt_name=request.prompt_name,
            prompt_version=request.prompt_version,
            input_tokens=0,
            output_tokens=0,
            latency_ms=float(a.get("latency_ms") or 0.0),
            status="error",
            error=str(a.get("detail"))[:1000],
            attempt_of=call.call_id,
        )
        for i, a in enumerate(attempts)
        if isinstance(a, dict) and a.get("outcome") == "failed"
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class _Paid:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None


def _paid(exc: Exception) -> _Paid:
    """What a failed model call was billed for: the replies it received and rejected."""
    replies = [r for r in getattr(exc, "responses", None) or [] if isinstance(r, LlmResponse)]
    costs = [r.cost_usd for r in replies if r.cost_usd is not None]
    return _Paid(
        sum(r.input_tokens for r in replies),
        sum(r.output_tokens for r in replies),
        sum(costs, Decimal(0)) if costs else None,
    )


def _failed_event(call: Call, exc: Exception, latency_ms: float, paid: _Paid) -> EventBody:
    message = f"{type(exc).__name__}: {exc}"[:1000]
    if call.kind == "llm":
        model, request = call.request
        return LlmCall(
            call_id=call.call_id,
            provider=call.target,
            model=request.model or getattr(model, "model", None) or "unknown",
            prompt_name=request.prompt_name,
            prompt_version=request.prompt_version,
            input_tokens=paid.input_tokens,
            output_tokens=paid.output_tokens,
            cost_usd=paid.cost_usd,
            latency_ms=latency_ms,
            status="error",
            error=message,
        )
    status = "timeout" if isinstance(exc, TimeoutError) else "error"
    return ToolCall(
        call_id=call.call_id,
        tool=call.target,
        status=status,
        latency_ms=latency_ms,
        attempts=max(1, call.attempts),
        error=message,
    )
