"""A detached background process with a pid file and a log, that can be found again later.

``agentmesh infra up`` returns while the broker keeps running, and ``infra down`` runs in a
different process, so the process is identified by a pid file plus a marker in its command
line (guarding against pid reuse after a reboot).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

__all__ = ["ManagedProcess"]

# How long an empty command line (a process inside exec) is waited on before it counts as
# not ours; exec finishes in microseconds, so this only matters on a badly loaded machine.
_EXEC_GRACE_S = 2.0


class ManagedProcess:
    """One service process owned by agentmesh's local infrastructure."""

    def __init__(self, name: str, run_dir: Path, marker: str) -> None:
        self.name = name
        self.run_dir = run_dir
        self.marker = marker
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def running_pid(self) -> int | None:
        """The pid of our live process, or None (a stale pid file is removed)."""
        if self._popen is not None and self._popen.poll() is not None:
            self._popen = None  # reaped; the pid file is stale now
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if self._popen is not None and self._popen.pid == pid:
            # Our own running child: between fork and exec its command line is still ours
            # (no marker yet), which must not read as "exited".
            return pid
        if not self._is_ours(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def _is_ours(self, pid: int) -> bool:
        """Whether ``pid`` is a live process whose command line carries our marker.

        A process in the middle of ``exec`` has a new address space but no arguments yet, so
        its command line reads empty for a moment (the kernel fills it in after closing the
        close-on-exec descriptors ``subprocess`` waits on). Read as "not ours", that would drop
        the pid file of a service that just started; an empty command line is asked again.
        """
        deadline = time.monotonic() + _EXEC_GRACE_S
        while True:
            try:
                proc = psutil.Process(pid)
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return False
                cmdline = proc.cmdline()
            except psutil.Error:
                return False
            if cmdline or time.monotonic() >= deadline:
                return self.marker in cmdline
            time.sleep(0.02)

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
        """Start ``argv`` detached (own session), logging to :attr:`log_file`."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.log_file.exists():
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        with self.log_file.open("wb") as log:
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=self.run_dir,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._popen.pid}\n")
        return self._popen.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the process group, SIGKILL after ``timeout``; True if something was stopped."""
        pid = self.running_pid()
        if pid is None:
            return False
        try:
            pgid = os.getpgid(pid)
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pgid = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.1)
        if self._alive(pid) and pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _alive(self, pid: int) -> bool:
        if self._popen is not None and self._popen.pid == pid:
            return self._popen.poll() is None
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the process's log."""
        try:
            with self.log_file.open("r", errors="replace") as fh:
                return "".join(deque(fh, maxlen=lines))
        except FileNotFoundError:
            return "(no log written)"
