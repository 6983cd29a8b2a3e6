"""The gateway's FastAPI app: tasks, reviews, control, dead letters, audit, operations."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from agentmesh._settings import Settings
from agentmesh.transport import KafkaConnection, make_producer
from contracts import (
    Codec,
    ControlCommand,
    DeadLetter,
    ReviewDecision,
    SchemaRegistry,
    Topics,
)
from gateway import _routes_ops, _routes_reviews, _routes_tasks
from gateway._auth import TokenStore
from gateway._config import GatewayConfig
from gateway._errors import BodyLimit, install_error_handlers
from gateway._models import ErrorOut
from gateway._reviews import ReviewView
from gateway._signing import Signer
from gateway._state import GatewayState
from gateway._submit import Submitter
from gateway._topology import ensure_gateway_topics

__all__ = ["STATIC", "create_app"]

STATIC = Path(__file__).parent / "static"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422, 503)
}


def create_app(
    settings: Settings, config: GatewayConfig, *, tokens: TokenStore, signer: Signer
) -> FastAPI:
    """The gateway for one namespace; ``agentmesh run gateway`` serves it with uvicorn."""
    gw = GatewayState(settings, config, tokens, signer)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await _start(gw)
        try:
            yield
        finally:
            await _stop(gw)

    app = FastAPI(
        title="agentmesh gateway",
        version="1",
        description="Publish tasks, decide parked work, stop work, and follow events and the "
        "audit trail of an agentmesh namespace. Every call but health, readiness, metrics and "
        "the signing key needs `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.gateway = gw
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    install_error_handlers(app)

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        path = getattr(request.scope.get("route"), "path", "unmatched")
        gw.latency.labels(request.method, path, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response

    app.include_router(_routes_tasks.router)
    app.include_router(_routes_reviews.router)
    app.include_router(_routes_ops.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _start(gw: GatewayState) -> None:
    settings, topics = gw.settings, gw.topics
    await ensure_gateway_topics(settings)
    gw.registry = SchemaRegistry(settings.registry_url)
    sub = Topics.subject
    gw.decisions = Codec(ReviewDecision, sub(topics.review_decisions), gw.registry)
    gw.control = Codec(ControlCommand, sub(topics.control), gw.registry)
    gw.dlq = Codec(DeadLetter, sub(topics.dlq), gw.registry)
    await gw.decisions.register()
    await gw.control.register()
    gw.submitter = Submitter(settings, gw.registry)
    await gw.submitter.start()
    gw.producer = make_producer(KafkaConnection.from_settings(settings))
    await gw.producer.start()
    gw.view = ReviewView(settings, gw.registry)
    await gw.view.start()


async def _stop(gw: GatewayState) -> None:
    await gw.view.stop()
    await gw.producer.stop()
    await gw.submitter.stop()
    await gw.registry.close()
