"""What a running gateway holds, and the dependency that says who is calling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Counter, Histogram

from agentmesh.contracts import (
    Codec,
    ControlCommand,
    DeadLetter,
    ReviewDecision,
    SchemaRegistry,
    Topics,
)
from agentmesh.core import Settings
from agentmesh.core.policy import load_policy
from agentmesh.gateway._auth import Identity, Role, TokenStore
from agentmesh.gateway._config import GatewayConfig
from agentmesh.gateway._locks import KeyedLocks
from agentmesh.gateway._ops import OpsView
from agentmesh.gateway._reviews import ReviewView
from agentmesh.gateway._signing import Signer
from agentmesh.gateway._submit import Submitter

__all__ = ["GatewayState", "state_of", "who"]


class GatewayState:
    """Kafka clients and views are made in the app's lifespan (they need its event loop)."""

    registry: SchemaRegistry
    submitter: Submitter
    view: ReviewView
    ops: OpsView
    producer: Any
    decisions: Codec[ReviewDecision]
    control: Codec[ControlCommand]
    dlq: Codec[DeadLetter]

    def __init__(
        self, settings: Settings, config: GatewayConfig, tokens: TokenStore, signer: Signer
    ) -> None:
        self.settings = settings
        self.config = config
        self.tokens = tokens
        self.signer = signer
        self.topics = Topics(settings.namespace)
        # The budget limits stamped on each task's first handoff (PolicyError if invalid).
        self.policy = load_policy(settings.policy)
        self.review_locks = KeyedLocks()  # a decision's check and write, one at a time per item
        self.up = asyncio.Event()  # Kafka clients, codecs and the review view are running
        self.last_error: str | None = None
        self.metrics = CollectorRegistry()
        self.latency = Histogram(
            "agentmesh_gateway_request_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.metrics,
        )
        self.submitted = Counter(
            "agentmesh_gateway_tasks_submitted", "tasks accepted", registry=self.metrics
        )
        self.decided = Counter(
            "agentmesh_gateway_review_decisions",
            "review decisions written",
            ["decision"],
            registry=self.metrics,
        )


def state_of(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


_bearer = HTTPBearer(auto_error=False)


def authenticate(request: Request, token: str | None) -> Identity:
    """Whose token ``request`` carries; 401 (HTTPException) when none, or an unknown one."""
    if token is None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    if not token and request.method == "GET":
        # EventSource cannot send headers: streams take the token as a parameter.
        token = request.query_params.get("access_token")
    challenge = {"WWW-Authenticate": "Bearer"}
    if not token:
        raise HTTPException(401, "missing bearer token", headers=challenge)
    identity = state_of(request).tokens.identify(token)
    if identity is None:
        raise HTTPException(401, "invalid token", headers=challenge)
    return identity


def who(*roles: Role) -> Callable[..., Awaitable[Identity]]:
    """A dependency: the caller's identity, if it holds one of ``roles`` (admin holds all)."""

    async def check(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Identity:
        identity = authenticate(request, creds.credentials if creds is not None else None)
        if not any(identity.may(r) for r in roles):
            needs = " or ".join(roles)
            raise HTTPException(403, f"{identity.name} may not do this (needs role: {needs})")
        return identity

    return check
