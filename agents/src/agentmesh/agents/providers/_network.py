"""The switch that keeps test suites from calling real (paid, non-deterministic) models."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from agentmesh.agents._errors import AgentError

__all__ = [
    "ModelRequestsForbidden",
    "allowed_by_env",
    "check_model_request",
    "is_loopback_url",
    "override_allow_model_requests",
]

ENV_VAR = "AGENTMESH_ALLOW_MODEL_REQUESTS"


class ModelRequestsForbidden(AgentError):
    """A provider was about to call a non-loopback model API while requests are forbidden."""


def allowed_by_env() -> bool:
    """The switch's starting value: on unless ``AGENTMESH_ALLOW_MODEL_REQUESTS`` says 0/false/no."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in {"0", "false", "no", "off"}


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_model_request(provider: str, url: str) -> None:
    """Raise :class:`ModelRequestsForbidden` unless model requests are allowed or local."""
    import agentmesh.agents.providers as package  # read at call time, so tests can flip the flag

    if package.ALLOW_MODEL_REQUESTS or is_loopback_url(url):
        return
    raise ModelRequestsForbidden(
        f"{provider}: refusing a real model request to {url} because "
        "agentmesh.agents.providers.ALLOW_MODEL_REQUESTS is False "
        "(tests forbid network model calls); "
        "point the provider at a fake server from agentmesh.agents.providers.testing, or set "
        f"{ENV_VAR}=1 / override_allow_model_requests(True) to allow it"
    )


@contextmanager
def override_allow_model_requests(allow: bool) -> Iterator[None]:
    """Set ``providers.ALLOW_MODEL_REQUESTS`` for the ``with`` block, then restore it."""
    import agentmesh.agents.providers as package

    previous = package.ALLOW_MODEL_REQUESTS
    package.ALLOW_MODEL_REQUESTS = allow
    try:
        yield
    finally:
        package.ALLOW_MODEL_REQUESTS = previous
