"""How one agent process is tuned: batches, polling, adoption, retries."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

__all__ = ["WorkerOptions"]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Tuning of one agent process."""

    max_batch: int = 500  # inputs per transaction at most
    poll_timeout_ms: int = 100
    partitions: int | None = None  # of topics this worker creates; None: the settings'

    halt_poll_s: float = 0.2  # how often a halted worker looks for the kill switch to lift
    readopt_after_s: float = 10.0  # after a fence: take the partition again if still ours
    adopt_retry_s: float = 1.0  # a failed adoption is tried again after this, doubling
    adopt_timeout_s: float = 7.0  # one partition's adoption at most (session timeout is 10 s)
    retry_backoff_s: float = 1.0  # before redoing a batch that failed
    max_failures: int = 3  # an input failing its batch this often is dead-lettered
    idle_warning_after_s: float = 5.0  # no partition this long after joining: say why
    instance: str = f"{socket.gethostname()}-{os.getpid()}"
