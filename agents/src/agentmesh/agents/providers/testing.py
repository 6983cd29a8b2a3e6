"""Fake model servers on 127.0.0.1: the OpenAI chat-completions and Anthropic messages APIs.

Real provider code runs against them, SDK and HTTP included::

    async with FakeOpenAIServer([FakeReply("hello", input_tokens=12)]) as server:
        model = OpenAIChatModel(server.config("gpt-4o"))
        reply = await model.complete(LlmRequest([Message("user", "hi")]))
        assert server.requests[0].body["messages"] == [{"role": "user", "content": "hi"}]

Replies are served in order and the last one repeats. A reply with ``status`` other than
200 is an injected failure (429, 500, 401...); ``delay_s`` makes it slow (for timeouts).
Like a real model, a reply stops at the request's output limit (``max_tokens`` or
``max_completion_tokens``): its ``output_tokens`` are cut to it and the finish reason says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import orjson
from aiohttp import web

from agentmesh.agents.providers._anthropic import AnthropicConfig
from agentmesh.agents.providers._openai import OpenAIConfig

__all__ = [
    "FAKE_API_KEY",
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "FakeReply",
    "FakeToolCall",
    "RecordedRequest",
]

FAKE_API_KEY = "test-key"


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """A tool call the fake model makes."""

    name: str
    arguments: dict[str, Any]
    id: str = "call_1"


@dataclass(frozen=True, slots=True)
class FakeReply:
    """One canned answer, or an injected failure."""

    text: str = "ok"
    input_tokens: int = 10
    output_tokens: int = 5
    tool_calls: tuple[FakeToolCall, ...] = ()
    status: int = 200  # anything else answers with that provider's error body
    delay_s: float = 0.0  # wait before answering, to trip client timeouts
    model: str | None = None  # None: the model the request named
    usage: bool = True  # False: omit usage, as some OpenAI-compatible servers do
    truncated: bool = False  # stopped at the request's output limit (set by the server)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What the fake received."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]


class _FakeServer:
    route: ClassVar[str]

    def __init__(self, replies: Iterable[FakeReply | str] = ()) -> None:
        self.replies = [FakeReply(r) if isinstance(r, str) else r for r in replies] or [FakeReply()]
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post(self.route, self._handle)
        # Slow replies must not hold up stop(): cancel handlers, do not wait for them.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        index = min(len(self.requests), len(self.replies) - 1)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(RecordedRequest(request.path, headers, body))
        reply = self.replies[index]
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            return web.json_response(self._error(reply.status), status=reply.status)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and reply.output_tokens > limit:
            # A real model stops at the request's limit, and bills no more than it.
            reply = dataclasses.replace(reply, output_tokens=limit, truncated=True)
        return web.json_response(self._render(reply, reply.model or str(body.get("model"))))

    def _render(self, reply: FakeReply, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def _error(self, status: int) -> dict[str, Any]:
        raise NotImplementedError


class FakeOpenAIServer(_FakeServer):
    """``POST /v1/chat/completions``; point ``base_url`` at :attr:`base_url`."""

    route = "/v1/chat/completions"

    @property
    def base_url(self) -> str:
        """The OpenAI SDK's ``base_url`` for this server."""
        return f"{self.url}/v1"

    def config(self, model: str = "gpt-4o-mini") -> OpenAIConfig:
        """A config for this server: fake key, no SDK retries, a short timeout."""
        return OpenAIConfig(
            model, base_url=self.base_url, api_key=FAKE_API_KEY, max_retries=0, timeout_s=5
        )

    def _render(self, reply: FakeReply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()},
                }
                for c in reply.tool_calls
            ]
        finish = "length" if reply.truncated else "tool_calls" if reply.tool_calls else "stop"
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            **({"usage": usage} if reply.usage else {}),
        }

    def _error(self, status: int) -> dict[str, Any]:
        return {"error": {"message": f"fake failure {status}", "type": "fake", "code": None}}


class FakeAnthropicServer(_FakeServer):
    """``POST /v1/messages``; point ``base_url`` at :attr:`base_url`."""

    route = "/v1/messages"

    @property
    def base_url(self) -> str:
        """The Anthropic SDK's ``base_url`` for this server."""
        return self.url

    def config(self, model: str = "claude-haiku-4-5") -> AnthropicConfig:
        """A config for this server: fake key, no SDK retries, a short timeout."""
        return AnthropicConfig(
            model, base_url=self.base_url, api_key=FAKE_API_KEY, max_retries=0, timeout_s=5
        )

    def _render(self, reply: FakeReply, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
            for c in reply.tool_calls
        ]
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "max_tokens"
            if reply.truncated
            else "tool_use"
            if reply.tool_calls
            else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }

    def _error(self, status: int) -> dict[str, Any]:
        kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"fake failure {status}"}}
