"""Starting the supervisor process: topics, then the faust worker (which owns the loop)."""

from __future__ import annotations

import asyncio
import logging
import os

import faust

from agentmesh._settings import Settings
from agentmesh.policy import Policy
from agentmesh.transport import KafkaConnection
from supervisor._app import Supervisor, SupervisorOptions
from supervisor._topology import ensure_supervisor_topics

__all__ = ["run_supervisor"]


def run_supervisor(settings: Settings, policy: Policy, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; faust commits what was processed and leaves the group."""
    layout = asyncio.run(
        ensure_supervisor_topics(KafkaConnection.from_settings(settings), settings)
    )
    options = SupervisorOptions(
        partitions=layout.partitions,
        audit_partitions=layout.audit_partitions,
        replication_factor=layout.replication_factor,
        instance=f"supervisor-{os.getpid()}",
    )
    supervisor = Supervisor(settings, policy, options)
    logging.getLogger(__name__).info(
        "supervising namespace %s: %d partitions", settings.namespace, layout.partitions
    )
    worker = faust.Worker(supervisor.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
