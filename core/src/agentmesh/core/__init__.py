"""agentmesh's shared core: settings, the one Kafka seam, the policy file and topic views.

Agents, the supervisor and the gateway depend on this package and on
``agentmesh.contracts``; they never depend on each other. The ``agentmesh`` command line,
the composition root on top of every part, is ``agentmesh.cli``.
"""

from importlib import metadata

from agentmesh.core._settings import Settings, get_settings

__all__ = ["Settings", "__version__", "get_settings"]

try:
    __version__ = metadata.version("agentmesh-core")
except metadata.PackageNotFoundError:  # pragma: no cover - only in an uninstalled checkout
    __version__ = "0.0.0"
