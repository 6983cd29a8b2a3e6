"""Error bodies that say what was wrong and where, and the request size limit."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka.errors import KafkaError
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentmesh.contracts import RegistryUnavailableError

__all__ = ["BodyLimit", "install_error_handlers"]

_WHERE = ("body", "query", "path", "header")
# What a field is for, added to its validation error (the bare rule does not say).
_HINTS = {
    "idempotency-key": "the Idempotency-Key header names one request, so that a retry of it "
    "is the same task; send 1 to 200 characters with no control characters, or leave it out",
}
# What a field's pattern means, instead of the bare regular expression.
_PATTERNS = {"idempotency-key": "holds a control character"}
_UNREADABLE = "malformed body: not JSON text in UTF-8 ({why}); send UTF-8 encoded JSON"


def install_error_handlers(app: FastAPI) -> None:
    # Starlette's class, not FastAPI's subclass: FastAPI itself raises Starlette's (a body
    # it cannot decode, an unknown route), which a handler for the subclass never sees.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: object = exc.detail  # str by FastAPI's typing; our handlers pass dicts too
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # The body could not be decoded (not UTF-8): a bad body like any other, so the
            # same 422 as malformed JSON, not a bare 400.
            message = _UNREADABLE.format(why=exc.__cause__)
            return JSONResponse({"error": message, "field": None, "detail": None}, 422)
        body = detail if isinstance(detail, dict) else {"error": str(detail)}
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if errors and errors[0].get("type") == "json_invalid":
            where = errors[0].get("loc", ("body", 0))[-1]
            message = f"malformed JSON body: {errors[0].get('msg')} (at character {where})"
            return JSONResponse({"error": message, "field": None, "detail": None}, 422)
        detail = [_field_error(e) for e in errors]
        first = detail[0] if detail else {"field": "", "error": "invalid request"}
        field = first["field"] or None
        message = f"{field or 'request body'}: {first['error']}"
        if field in _HINTS:
            message = f"{message} ({_HINTS[field]})"
        return JSONResponse({"error": message, "field": field, "detail": detail}, 422)

    @app.exception_handler(KafkaError)
    async def kafka_down(_: Request, exc: KafkaError) -> JSONResponse:
        # Nothing was committed: the client may retry (with its Idempotency-Key).
        return JSONResponse({"error": f"Kafka: {type(exc).__name__}: {exc}; retry"}, 503)

    @app.exception_handler(RegistryUnavailableError)
    async def registry_down(_: Request, exc: RegistryUnavailableError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 503)


def _field_error(error: Any) -> dict[str, str]:
    field = ".".join(str(p) for p in error.get("loc", ()) if p not in _WHERE)
    message = str(error.get("msg"))
    if error.get("type") == "string_pattern_mismatch" and field in _PATTERNS:
        message = _PATTERNS[field]
    return {"field": field, "error": message}


class BodyLimit:
    """413 for bodies over the limit, whether announced by Content-Length or streamed.

    A streamed (chunked) body is counted as the app reads it; going over raises an
    HTTPException, because FastAPI turns any other error while reading the body into a 400.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"error": _too_large(self.max_bytes)})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"request body over the {limit}-byte limit (AGENTMESH_GATEWAY_MAX_BODY_BYTES)"


class _TooLarge(HTTPException):
    """Raised from ``receive``: FastAPI re-raises an HTTPException met while reading the
    body (the handlers above answer it); outside a route, BodyLimit answers it itself."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))
