"""The probe server of long-running processes: ``/healthz``, ``/readyz`` and ``/metrics``.

``run agent`` and ``run supervisor`` start one when ``AGENTMESH_PROBE_PORT`` is set
(:func:`start_probe_server`); each role registers its own readiness checks::

    server = ProbeServer({"registry": registry_check(registry)}, host=..., port=0)
    port = await server.start()
    ...
    server.drain()  # on SIGTERM: /readyz answers 503 from now on
    await server.stop()

``/metrics`` serves prometheus_client's default registry (OpenMetrics when asked for).
"""

from agentmesh.core.probe._checks import Check, cached, registry_check
from agentmesh.core.probe._server import ProbeServer
from agentmesh.core.probe._start import start_probe_server

__all__ = ["Check", "ProbeServer", "cached", "registry_check", "start_probe_server"]
