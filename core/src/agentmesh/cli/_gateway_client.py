"""Talking to a gateway over HTTP: JSON calls, Server-Sent Events, errors in words.

The CLI uses it when given ``--gateway URL`` (or ``AGENTMESH_GATEWAY_URL``); the token
(``--token`` / ``AGENTMESH_GATEWAY_TOKEN``) decides which roles the calls have.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import orjson

__all__ = [
    "EventStreamParser",
    "GatewayClient",
    "GatewayError",
    "GatewayUnreachable",
    "SseEvent",
    "explain_status",
]


class GatewayError(Exception):
    """The gateway refused or failed a call; the message says why and how to fix it."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GatewayUnreachable(GatewayError):
    """No answer: the connection failed, timed out or was lost (worth retrying)."""


def _error_text(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip()[:500] or "(no details)"
    if isinstance(data, dict):
        error = data.get("error") or data.get("detail") or data
        field = data.get("field")
        text = error if isinstance(error, str) else orjson.dumps(error).decode()
        return f"{text} (field {field})" if field and field not in text else text
    return str(data)


def explain_status(status: int, body: bytes, url: str, *, had_token: bool) -> str:
    """What an HTTP error from the gateway means, and what to do about it."""
    error = _error_text(body)
    if status == 401:
        if not had_token:
            return (
                f"the gateway at {url} needs a token: pass --token or set "
                "AGENTMESH_GATEWAY_TOKEN (401 unauthorized)"
            )
        return (
            f"the gateway at {url} does not accept this token ({error}): check --token / "
            "AGENTMESH_GATEWAY_TOKEN against the gateway's token list (401 unauthorized)"
        )
    if status == 403:
        return f"not allowed: {error}; use a token that has that role (403 forbidden)"
    if status == 404:
        return f"not found: {error} (404)"
    if status == 409:
        return f"refused: {error} (409 conflict)"
    if status in (413, 422):
        return f"the gateway rejected the request: {error} ({status})"
    if status == 503:
        return f"the gateway at {url} is not ready: {error} (503; GET {url}/readyz says why)"
    return f"the gateway at {url} answered HTTP {status}: {error}"


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One Server-Sent Event: its type, data and the stream's last event id."""

    event: str
    data: str
    id: str | None


class EventStreamParser:
    """``text/event-stream`` parsing, line by line (the WHATWG rules: ``:`` comments, one
    optional space after the colon, multi-line data joined by newlines, ``id`` persisting
    across events, an event dispatched at a blank line only if it has data)."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self._event = ""
        self._data: list[str] = []
        self._first = True

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its line break); an event when the line completes one."""
        if self._first:
            self._first = False
            line = line.removeprefix("\ufeff")
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value or None
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return SseEvent(event, "\n".join(data), self.last_event_id)


class GatewayClient:
    """JSON calls and event streams against one gateway, with one token."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout_s: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token or None
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=timeout_s, transport=transport
        )
        self.reconnect_delay_s = 0.5

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    def _unreachable(self, exc: Exception) -> GatewayUnreachable:
        if isinstance(exc, httpx.TimeoutException):
            return GatewayUnreachable(
                f"the gateway at {self.url} did not answer within {self.timeout_s:.0f} s "
                f"({type(exc).__name__}); is it overloaded or stuck? (GET {self.url}/readyz)"
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return GatewayUnreachable(
                f"--gateway {self.url!r} is not a usable URL ({exc}); give e.g. "
                "http://127.0.0.1:8080"
            )
        return GatewayUnreachable(
            f"cannot reach the gateway at {self.url} ({type(exc).__name__}: {exc}); is it "
            "running (`agentmesh run gateway`)? Check --gateway / AGENTMESH_GATEWAY_URL, or "
            "leave them out to talk to Kafka directly"
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer of one call; :class:`GatewayError` saying what went wrong."""
        try:
            resp = await self._client.request(
                method, path, params=params, json=json, headers=headers
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise self._unreachable(exc) from None
        if resp.status_code >= 400:
            raise GatewayError(
                explain_status(
                    resp.status_code, resp.content, self.url, had_token=bool(self.token)
                ),
                resp.status_code,
            )
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise GatewayError(
                f"{self.url}{path} did not answer JSON (HTTP {resp.status_code}): is "
                f"{self.url} an agentmesh gateway?",
                resp.status_code,
            ) from None

    async def events(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        last_event_id: str | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncGenerator[SseEvent, None]:
        """The events of one connection to a Server-Sent Events endpoint, until it ends
        (``on_open`` is called once the gateway has accepted the request)."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(self.timeout_s, read=None)
        parser = EventStreamParser()
        parser.last_event_id = last_event_id
        try:
            async with self._client.stream(
                "GET", path, params=params, headers=headers, timeout=timeout
            ) as resp:
                if resp.status_code >= 400:
                    body = await resp.aread()
                    raise GatewayError(
                        explain_status(
                            resp.status_code, body, self.url, had_token=bool(self.token)
                        ),
                        resp.status_code,
                    )
                if on_open is not None:
                    on_open()
                async for line in resp.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise self._unreachable(exc) from None

    async def follow(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        last_event_id: str | None = None,
        on_reconnect: Callable[[str, str | None], None] | None = None,
    ) -> AsyncGenerator[SseEvent, None]:
        """Events forever: a lost connection is resumed from the last event id seen (the
        gateway's streams resume from a Kafka position: nothing missed, nothing twice).
        Failing to connect the first time, or an HTTP error, is raised."""
        connected = False
        delay = self.reconnect_delay_s

        def opened() -> None:
            nonlocal connected, delay
            connected, delay = True, self.reconnect_delay_s

        while True:
            try:
                async for event in self.events(path, params, last_event_id, opened):
                    last_event_id = event.id or last_event_id
                    yield event
                why = "the gateway ended the stream"
            except GatewayUnreachable as exc:
                if not connected:
                    raise
                why = str(exc)
            if on_reconnect is not None:
                on_reconnect(why, last_event_id)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
