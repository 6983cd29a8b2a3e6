"""Starting the probe server from the settings, as ``run agent`` and ``run supervisor`` do."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from agentmesh.core._settings import Settings
from agentmesh.core.probe._checks import Check
from agentmesh.core.probe._server import ProbeServer

__all__ = ["start_probe_server"]

log = logging.getLogger(__name__)


async def start_probe_server(
    settings: Settings, checks: Mapping[str, Check], role: str
) -> ProbeServer | None:
    """The probe server on ``AGENTMESH_PROBE_HOST:AGENTMESH_PROBE_PORT``, started; None when
    no port is set. The port is logged (with 0, the one the system chose)."""
    if settings.probe_port is None:
        return None
    server = ProbeServer(checks, host=settings.probe_host, port=settings.probe_port)
    port = await server.start()
    log.info(
        "%s: probe server listening on http://%s:%d (/healthz, /readyz, /metrics)",
        role,
        settings.probe_host,
        port,
    )
    return server
