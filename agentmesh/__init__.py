"""agentmesh's shared runtime: settings, the Kafka seam and the ``agentmesh`` CLI.

Agents, the supervisor and the gateway depend on this package and on ``contracts``;
they never depend on each other.
"""

from agentmesh._settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
__version__ = "0.1.0.dev0"
