"""What every request passes through before its route: timing, authentication, readiness,
the body limit (outermost first)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from agentmesh.gateway._errors import BodyLimit
from agentmesh.gateway._state import GatewayState, authenticate

__all__ = ["install_middleware"]

_WITH_BODY = ("POST", "PUT", "PATCH", "DELETE")
Next = Callable[[Request], Awaitable[Response]]


def install_middleware(app: FastAPI, gw: GatewayState) -> None:
    """Install the gateway's middleware on ``app`` (each added one wraps those before it)."""
    app.add_middleware(BodyLimit, max_bytes=gw.config.max_body_bytes)

    @app.middleware("http")
    async def only_when_up(request: Request, call_next: Next) -> Response:
        path = request.url.path
        if gw.up.is_set() or not path.startswith("/v1/") or path == "/v1/keys":
            return await call_next(request)
        return JSONResponse(
            {"error": f"not ready: {gw.last_error or 'starting'} (see /readyz)"}, 503
        )

    @app.middleware("http")
    async def authenticated_first(request: Request, call_next: Next) -> Response:
        # Who is asking is settled before the body is read: a caller without a valid token
        # gets 401, not a verdict on its JSON. Roles are checked by each route.
        path = request.url.path
        if request.method in _WITH_BODY and path.startswith("/v1/") and path != "/v1/keys":
            try:
                authenticate(request, None)
            except HTTPException as exc:
                return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
        return await call_next(request)

    @app.middleware("http")
    async def measure(request: Request, call_next: Next) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        path = getattr(request.scope.get("route"), "path", "unmatched")
        gw.latency.labels(request.method, path, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response
