"""A deterministic model for tests, replays and the offline demo."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal

from agentmesh.agents._estimate import CallEstimate
from agentmesh.agents._llm import LlmRequest, LlmResponse

__all__ = ["ScriptedModel"]

Reply = str | Callable[[LlmRequest], str]


class ScriptedModel:
    """Answers from a script, in order; counts tokens as whitespace-separated words.

    A reply may be a function of the request, so a script can echo or branch. When the
    script runs out, the last reply repeats (``loop=True``) or an error is raised. Like a
    real model it stops at the request's ``max_tokens`` (the reply's first words), and it
    counts a request's input exactly before the call (:meth:`estimate`).
    """

    def __init__(
        self,
        replies: Iterable[Reply],
        *,
        model: str = "scripted",
        price_per_token_usd: Decimal | None = Decimal("0.000001"),
        loop: bool = False,
    ) -> None:
        self._replies = list(replies)
        self.model = model
        self.price = price_per_token_usd
        self.loop = loop
        self.calls = 0
        # The most recent requests, for tests to inspect; bounded so a long demo stays small.
        self.requests: deque[LlmRequest] = deque(maxlen=1000)

    @property
    def provider(self) -> str:
        return "scripted"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        index = self.calls
        self.calls += 1
        self.requests.append(request)
        if index >= len(self._replies):
            if not (self.loop and self._replies):
                raise RuntimeError(f"scripted model ran out of replies after {index} calls")
            index = len(self._replies) - 1
        reply = self._replies[index]
        text = reply(request) if callable(reply) else reply
        if request.max_tokens is not None and len(text.split()) > request.max_tokens:
            text = " ".join(text.split()[: request.max_tokens])  # cut off, as a model would
        input_tokens = _words(request)
        output_tokens = len(text.split())
        cost = None if self.price is None else self.price * (input_tokens + output_tokens)
        return LlmResponse(
            text=text,
            provider=self.provider,
            model=request.model or self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
        )

    def estimate(self, request: LlmRequest) -> CallEstimate:
        """The request's input tokens, exactly as :meth:`complete` will count them."""
        return CallEstimate(_words(request), self.price, self.price)


def _words(request: LlmRequest) -> int:
    return sum(len(m.content.split()) for m in request.messages)
