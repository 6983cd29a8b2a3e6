"""Starting the supervisor process: topics, then the faust worker (which owns the loop)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import faust

from agentmesh.core import Settings
from agentmesh.core.policy import Policy
from agentmesh.core.transport import KafkaConnection
from agentmesh.supervisor._app import Supervisor, SupervisorOptions
from agentmesh.supervisor._checkpoints import SigningKeyError, signing_key
from agentmesh.supervisor._topology import ensure_supervisor_topics

__all__ = ["run_supervisor"]


def run_supervisor(settings: Settings, policy: Policy, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; faust commits what was processed and leaves the group."""
    _require_signing_key(settings)
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
    worker = _Worker(supervisor.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()


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


STOP_GRACE_S = 15.0


class _Worker(faust.Worker):
    """faust's worker, with a bound on how long stopping may take.

    faust can hang while stopping (its fetcher waits on a consumer in a rebalance). Exiting
    without its final commit is safe here: every table update is idempotent by offset, so
    records folded but not committed are skipped when they are read again.
    """

    async def on_stop(self) -> None:
        timer = threading.Timer(STOP_GRACE_S, _exit_now)
        timer.daemon = True
        timer.start()
        await super().on_stop()


def _exit_now() -> None:
    logging.getLogger(__name__).warning(
        "supervisor did not stop within %.0f s; exiting (uncommitted records are re-read "
        "and skipped by offset on restart)",
        STOP_GRACE_S,
    )
    os._exit(0)
