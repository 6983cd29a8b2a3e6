"""Routing: try models in order, falling back on failure or on a reply that fails validation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from agentmesh.agents._errors import TransientError
from agentmesh.agents._estimate import CallEstimate, estimate_call, output_cap
from agentmesh.agents._llm import ChatModel, LlmRequest, LlmResponse

__all__ = ["FallbackExhausted", "FallbackModel", "Validator"]

Validator = Callable[[LlmResponse], object]
"""Raises ``ValueError`` (pydantic's ``ValidationError`` is one) or returns ``False`` to reject."""


class FallbackExhausted(TransientError):
    """No model gave an acceptable answer; transient, so the step may be retried later.

    ``responses`` are the replies that were received (and paid for) but rejected.
    """

    def __init__(
        self, provider: str, attempts: list[dict[str, Any]], responses: list[LlmResponse]
    ) -> None:
        tried = "; ".join(f"{a['provider']}: {a['outcome']} ({a['detail']})" for a in attempts)
        super().__init__(f"{provider}: no model gave an acceptable answer: {tried}")
        self.attempts = attempts
        self.responses = responses


class FallbackModel:
    """A :class:`~agents.ChatModel` that tries ``models`` in order (e.g. cheap, then strong).

    The next model is tried when one raises an error in ``fall_back_on`` (by default
    :class:`~agents.TransientError`, which providers raise once their own retries are
    spent), when ``validate`` rejects its reply, or when ``is_open(member.provider)`` says
    that member's circuit breaker is open. Other errors (a 401, a bad request) propagate:
    they are configuration faults a fallback would hide.

    ``provider`` is the combined ``"fallback(openai,anthropic)"``: the runtime's control
    gate checks breakers on that name, so member breakers are checked here through
    ``is_open``, e.g. ``is_open=lambda p: control.breaker("model", p) is not None``.

    The answer names the member that gave it (``provider``, ``model``). Its tokens and
    cost include replies that were rejected, since those were paid for (cost is ``None``
    if any of them is unpriced); ``extra["fallback"]`` lists every attempt. The runtime
    writes a failed ``llm_call`` event (``attempt_of`` set) for each member that failed on
    the way, so that provider's circuit breaker counts it even when the chain answered.
    """

    def __init__(
        self,
        models: Sequence[ChatModel],
        *,
        validate: Validator | None = None,
        is_open: Callable[[str], bool] | None = None,
        fall_back_on: tuple[type[Exception], ...] = (TransientError,),
    ) -> None:
        if not models:
            raise ValueError("FallbackModel needs at least one model")
        self.models = list(models)
        self.validate = validate
        self.is_open = is_open
        self.fall_back_on = fall_back_on

    @property
    def provider(self) -> str:
        """``fallback(<member providers, in order>)``."""
        return f"fallback({','.join(m.provider for m in self.models)})"

    def estimate(self, request: LlmRequest) -> CallEstimate:
        """The most any member may count and charge: a call may end with any of them."""
        each = [estimate_call(m, request) for m in self.models]
        limits = [e.output_limit for e in each]
        return CallEstimate(
            input_tokens=max(e.input_tokens for e in each),
            input_usd_per_token=_highest([e.input_usd_per_token for e in each]),
            output_usd_per_token=_highest([e.output_usd_per_token for e in each]),
            output_limit=None if None in limits else max(x for x in limits if x is not None),
        )

    async def complete(self, request: LlmRequest) -> LlmResponse:
        """The first acceptable answer, in model order.

        A request's ``max_total_tokens`` (what remains of the task's budget) holds for the
        whole chain: a reply that was paid for and rejected leaves the next member only what
        it did not use, and a member that could not get its input covered is skipped.
        """
        attempts: list[dict[str, Any]] = []
        paid: list[LlmResponse] = []
        for model in self.models:
            if self.is_open is not None and self.is_open(model.provider):
                attempts.append(_attempt(model.provider, "breaker_open", "skipped"))
                continue
            member_request = _within_total(model, request, paid)
            if member_request is None:
                attempts.append(_attempt(model.provider, "budget", "no tokens left to try it"))
                continue
            start = time.perf_counter()
            try:
                response = await model.complete(member_request)
            except self.fall_back_on as exc:
                failed = _attempt(model.provider, "failed", str(exc), getattr(model, "model", None))
                failed["latency_ms"] = (time.perf_counter() - start) * 1000
                attempts.append(failed)
                continue
            paid.append(response)
            reason = self._rejection(response)
            if reason is not None:
                attempts.append(_attempt(model.provider, "rejected", reason, response.model))
                continue
            attempts.append(_attempt(model.provider, "ok", "answered", response.model))
            return _answer(response, paid, attempts)
        raise FallbackExhausted(self.provider, attempts, paid)

    async def aclose(self) -> None:
        """Close the members that hold connections."""
        for model in self.models:
            close = getattr(model, "aclose", None)
            if close is not None:
                await close()

    def _rejection(self, response: LlmResponse) -> str | None:
        if self.validate is None:
            return None
        try:
            verdict = self.validate(response)
        except ValueError as exc:
            return str(exc)
        return "validator returned False" if verdict is False else None


def _within_total(
    model: ChatModel, request: LlmRequest, paid: list[LlmResponse]
) -> LlmRequest | None:
    """``request`` for ``model`` with its output capped to what the replies already paid for
    left of ``max_total_tokens``; ``None`` if that cannot cover the input and one token."""
    if request.max_total_tokens is None:
        return request
    left = request.max_total_tokens - sum(r.input_tokens + r.output_tokens for r in paid)
    estimate = estimate_call(model, request)
    cap = left - estimate.input_tokens
    if cap < 1:
        return None
    send = output_cap(request, estimate, cap)
    return request if send is None else dataclasses.replace(request, max_tokens=send)


def _highest(prices: list[Decimal | None]) -> Decimal | None:
    return None if None in prices else max(p for p in prices if p is not None)


def _attempt(provider: str, outcome: str, detail: str, model: str | None = None) -> dict[str, Any]:
    return {"provider": provider, "model": model, "outcome": outcome, "detail": detail}


def _answer(
    response: LlmResponse, paid: list[LlmResponse], attempts: list[dict[str, Any]]
) -> LlmResponse:
    costs = [r.cost_usd for r in paid]
    total = None if None in costs else sum((c for c in costs if c is not None), Decimal(0))
    return dataclasses.replace(
        response,
        input_tokens=sum(r.input_tokens for r in paid),
        output_tokens=sum(r.output_tokens for r in paid),
        cost_usd=total,
        extra={**response.extra, "fallback": attempts},
    )
