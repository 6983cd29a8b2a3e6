"""Each agent of a mesh as its own OS process: started, watched until ready, stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from agentmesh.core import Settings

__all__ = ["GATEWAY", "SUPERVISOR", "AgentProcesses", "LaunchError"]

READY_LINE = "consuming partitions"
SUPERVISOR = "supervisor"
GATEWAY = "gateway"
# The gateway is ready once uvicorn listens: it logs "Application startup complete" before it
# binds its port, and a port taken meanwhile would then go unnoticed (another gateway there
# answering our requests).
_READY = {SUPERVISOR: "Worker]: Ready", GATEWAY: "Uvicorn running on"}


class LaunchError(RuntimeError):
    """An agent process died or never became ready; carries the tail of its log."""


class AgentProcesses:
    """``agentmesh run agent NAME`` for every name, logging to ``log_dir/NAME.log``.

    With ``supervisor=True`` the supervisor runs beside them (``agentmesh run supervisor``,
    logging to ``supervisor.log``), governing with ``settings.policy``; with ``gateway_env``
    the gateway too (``agentmesh run gateway``, configured by those variables).
    """

    def __init__(
        self,
        app: str,
        names: Sequence[str],
        settings: Settings,
        log_dir: Path,
        *,
        supervisor: bool = False,
        gateway_env: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.names = [*names, SUPERVISOR] if supervisor else list(names)
        if gateway_env is not None:
            self.names.append(GATEWAY)
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
            "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
            "AGENTMESH_NAMESPACE": settings.namespace,
            "AGENTMESH_APP": app,
            "COLUMNS": "160",
        }
        if settings.policy is not None:
            self.env["AGENTMESH_POLICY"] = str(settings.policy)
        self.env.update(gateway_env or {})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log_of(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            with self.log_of(name).open("wb") as log:
                command = [name] if name in _READY else ["agent", name]
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "agentmesh.cli", "run", *command],
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until every agent consumes its inbox; a dead one raises with its log."""
        deadline = time.monotonic() + timeout_s
        waiting = set(self.names)
        while waiting:
            for name in sorted(waiting):
                ready = _READY.get(name, READY_LINE)
                if ready in self.log_of(name).read_text(errors="replace"):
                    waiting.discard(name)
                elif self.procs[name].poll() is not None:
                    what = name if name in _READY else f"agent {name}"
                    raise LaunchError(f"{what} exited during start-up:\n{self.tail(name)}")
            if time.monotonic() > deadline:
                raise LaunchError(f"agents {sorted(waiting)} not ready after {timeout_s:.0f}s")
            await asyncio.sleep(0.2)

    def dead(self) -> list[str]:
        """Agents whose process has exited."""
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def tail(self, name: str, lines: int = 20) -> str:
        with self.log_of(name).open(errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM everyone (they finish their batch and leave their group), then SIGKILL."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
