"""The gateway's FastAPI app: tasks, reviews, control, dead letters, audit, operations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from agentmesh.contracts import (
    Codec,
    ControlCommand,
    DeadLetter,
    ReviewDecision,
    SchemaRegistry,
    Topics,
)
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, make_producer
from agentmesh.gateway import (
    _routes_dlq,
    _routes_ops,
    _routes_overview,
    _routes_recordings,
    _routes_reviews,
    _routes_tasks,
)
from agentmesh.gateway._auth import TokenStore
from agentmesh.gateway._config import GatewayConfig
from agentmesh.gateway._errors import install_error_handlers
from agentmesh.gateway._middleware import install_middleware
from agentmesh.gateway._models import ErrorOut
from agentmesh.gateway._ops import OpsView
from agentmesh.gateway._reviews import ReviewView
from agentmesh.gateway._signing import Signer
from agentmesh.gateway._state import GatewayState
from agentmesh.gateway._submit import Submitter
from agentmesh.gateway._topology import ensure_gateway_topics

__all__ = ["STATIC", "create_app"]

log = logging.getLogger(__name__)

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
        # Kafka or the registry may be down when the gateway starts: it serves health and
        # readiness (503 saying why) and keeps trying, instead of failing to start.
        bring_up = asyncio.create_task(_bring_up(gw), name="gateway-start")
        try:
            yield
        finally:
            bring_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bring_up
            if gw.up.is_set():
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
    install_error_handlers(app)
    install_middleware(app, gw)
    app.include_router(_routes_tasks.router)
    app.include_router(_routes_reviews.router)
    app.include_router(_routes_ops.router)
    app.include_router(_routes_overview.router)
    app.include_router(_routes_dlq.router)
    app.include_router(_routes_recordings.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _traced(app)
    return app


def _traced(app: FastAPI) -> None:
    """A server span per request, the root of the trace of a task it submits; only when the
    process traces (``agentmesh.core.telemetry``), and not for probes, metrics, static files."""
    from opentelemetry import trace

    if isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    ):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="/healthz,/readyz,/metrics,/static/")


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
    gw.submitter = Submitter(settings, gw.registry, gw.policy)
    await gw.submitter.start()
    gw.producer = make_producer(KafkaConnection.from_settings(settings))
    await gw.producer.start()
    gw.view = ReviewView(settings, gw.registry)
    await gw.view.start()
    gw.ops = OpsView(settings, gw.registry, parked=gw.view.parked)
    await gw.ops.start()


async def _bring_up(gw: GatewayState) -> None:
    delay = 0.5
    while True:
        try:
            await _start(gw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed is reported by /readyz
            gw.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("gateway not ready (%s); retrying in %.1f s", gw.last_error, delay)
            with contextlib.suppress(Exception):
                await _stop(gw)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        else:
            gw.last_error = None
            gw.up.set()
            return


async def _stop(gw: GatewayState) -> None:
    # Parts started in order; after a failed start only some exist.
    for part in ("ops", "view", "producer", "submitter"):
        if hasattr(gw, part):
            await getattr(gw, part).stop()
            delattr(gw, part)
    if hasattr(gw, "registry"):
        await gw.registry.close()
