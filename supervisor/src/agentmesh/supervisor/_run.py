"""Starting the supervisor process: topics, then the faust worker (which owns the loop)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import faust

from agentmesh.core import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.probe import ProbeServer, start_probe_server
from agentmesh.core.transport import KafkaConnection
from agentmesh.supervisor._app import Supervisor, SupervisorOptions
from agentmesh.supervisor._checkpoints import SigningKeyError, signing_key
from agentmesh.supervisor._readiness import SupervisorChecks
from agentmesh.supervisor._topology import (
    AuditTopicExpires,
    Layout,
    check_audit_topic,
    ensure_supervisor_topics,
)

__all__ = ["run_supervisor"]


def run_supervisor(settings: Settings, policy: Policy, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; faust commits what was processed and leaves the group."""
    _require_signing_key(settings)
    try:
        layout = asyncio.run(_prepare(settings, policy))
    except AuditTopicExpires as exc:
        # An audit trail that silently loses its head is worse than no supervisor: stop here.
        raise SystemExit(f"error: {exc}") from None
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
    worker = _Worker(supervisor.app, loglevel=loglevel, quiet=True)
    worker.settings = settings
    worker.readiness = SupervisorChecks(
        supervisor.app,
        settings.registry_url,
        supervisor.topics.tasks,
        layout.partitions,
        started=lambda: worker.startup_done,
    )
    worker.execute_from_commandline()


async def _prepare(settings: Settings, policy: Policy) -> Layout:
    conn = KafkaConnection.from_settings(settings)
    layout = await ensure_supervisor_topics(conn, settings, policy=policy)
    await check_audit_topic(conn, settings, policy)
    return layout


def _require_signing_key(settings: Settings) -> None:
    """Refuse to start without a key to sign audit checkpoints with (docs/security.md).

    On this machine's broker (local development, tests) a key is made on first use; for
    any other cluster an unsigned trail is a deployment mistake, not a default.
    """
    try:
        signer = signing_key(settings, create_local=True)
    except SigningKeyError as exc:
        raise SystemExit(f"agentmesh supervisor: {exc}") from exc
    if signer is None:
        raise SystemExit(
            "agentmesh supervisor: no key to sign audit checkpoints with. Set "
            "AGENTMESH_AUDIT_SIGNING_KEY_FILE (an Ed25519 private key in PEM; make one with "
            "`agentmesh audit keygen --out FILE`) or AGENTMESH_AUDIT_SIGNING_KEY (the PEM "
            "itself, from a secret). See docs/security.md, 'The audit trail'."
        )
    logging.getLogger(__name__).info("audit checkpoints are signed with key %s", signer.key_id)


class _Worker(faust.Worker):
    """faust's worker, with a probe server, and a bound on how long stopping may take.

    faust can hang while stopping (its fetcher waits on a consumer in a rebalance). Exiting
    without its final commit is safe here: every table update is idempotent by offset, so
    records folded but not committed are skipped when they are read again.
    """

    settings: Settings
    readiness: SupervisorChecks
    startup_done = False
    probe: ProbeServer | None = None

    async def on_start(self) -> None:
        await super().on_start()
        # On faust's loop, before the app starts: /healthz answers while tables recover.
        self.probe = await start_probe_server(self.settings, self.readiness.checks(), "supervisor")

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        self.startup_done = True

    async def on_stop(self) -> None:
        if self.probe is not None:
            self.probe.drain()
        grace_s = self.settings.drain_grace_s
        timer = threading.Timer(grace_s, _exit_now, (grace_s,))
        timer.daemon = True
        timer.start()
        await super().on_stop()
        await self.readiness.close()
        if self.probe is not None:
            await self.probe.stop()


def _exit_now(grace_s: float) -> None:
    logging.getLogger(__name__).warning(
        "supervisor did not stop within %g s (AGENTMESH_DRAIN_GRACE_S); exiting (uncommitted "
        "records are re-read and skipped by offset on restart)",
        grace_s,
    )
    os._exit(0)
