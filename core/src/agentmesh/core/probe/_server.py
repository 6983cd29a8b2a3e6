"""The probe server of ``run agent`` and ``run supervisor``: /healthz, /readyz, /metrics.

Liveness and readiness are different questions. ``/healthz`` asks "is this process stuck?"
(a handler running on the event loop answers most of it; a heartbeat task tells a loop that is
starved for seconds at a time). ``/readyz`` asks "should this process get work and traffic?":
the role's checks all pass and it is not draining after SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from agentmesh.core.probe._checks import Check, _answer

__all__ = ["ProbeServer"]

log = logging.getLogger(__name__)


class ProbeServer:
    """An HTTP server on its own port, sharing the event loop of the process it watches.

    ``checks`` name the role's readiness conditions (see :mod:`agentmesh.core.probe`); more
    can be added with :meth:`add_check` before or after :meth:`start`.
    """

    def __init__(
        self,
        checks: Mapping[str, Check] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        registry: CollectorRegistry = REGISTRY,
        check_timeout_s: float = 2.0,
        heartbeat_s: float = 1.0,
        stall_after_s: float = 10.0,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry
        self.check_timeout_s = check_timeout_s
        self.heartbeat_s = heartbeat_s
        self.stall_after_s = stall_after_s
        self._checks: dict[str, Check] = dict(checks or {})
        self._draining: str | None = None
        self._beat = time.monotonic()
        self._late = 0.0  # how late the last heartbeat woke up
        self._heart: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port, once started

    def add_check(self, name: str, check: Check) -> None:
        """Make readiness also depend on ``check``."""
        self._checks[name] = check

    def drain(self, reason: str = "draining after SIGTERM: finishing the work in flight") -> None:
        """From now on /readyz answers 503 with ``reason``: take no new work or traffic."""
        self._draining = reason

    async def start(self) -> int:
        """Listen; the bound port (the requested one, or a free one when it was 0)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        # Probes come every few seconds: an access log line each would drown the process's own.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise OSError(
                exc.errno,
                f"probe server cannot listen on {self.host}:{self.requested_port} ({exc}); "
                "choose another AGENTMESH_PROBE_PORT (0: any free port) or unset it",
            ) from exc
        self.port = int(self._runner.addresses[0][1])
        self._beat = time.monotonic()
        self._heart = asyncio.create_task(self._heartbeat(), name="probe-heartbeat")
        return self.port

    async def stop(self) -> None:
        """Stop listening; probes in flight are answered first (checks are bounded)."""
        if self._heart is not None:
            self._heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heart
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Whether every check passes, and each check's answer ("ok" or what is wrong)."""
        if self._draining is not None:
            return False, {"shutdown": self._draining}
        names = list(self._checks)
        answers = await asyncio.gather(*(self._ask(self._checks[n]) for n in names))
        checks = {n: a or "ok" for n, a in zip(names, answers, strict=True)}
        return all(a is None for a in answers), checks

    async def _ask(self, check: Check) -> str | None:
        try:
            async with asyncio.timeout(self.check_timeout_s):
                return await _answer(check)
        except TimeoutError:
            return f"no answer within {self.check_timeout_s:g} s"

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            now = time.monotonic()
            # How late this wake-up came: the time the loop spent on something else.
            self._late = max(0.0, now - self._beat - self.heartbeat_s)
            self._beat = now

    async def _healthz(self, _: web.Request) -> web.Response:
        # This handler runs on the process's event loop: answering at all shows it turns.
        # The heartbeat shows whether it turned on time in between: a loop blocked for longer
        # than stall_after_s answers 503 until the next beat comes on time.
        lag = max(self._late, time.monotonic() - self._beat - self.heartbeat_s)
        alive = lag <= self.stall_after_s
        body: dict[str, object] = {"alive": alive, "loop_lag_s": round(lag, 3)}
        if not alive:
            body["error"] = (
                f"the event loop was blocked for {lag:.1f} s (more than {self.stall_after_s:g} s)"
            )
        return web.json_response(body, status=200 if alive else 503)

    async def _readyz(self, _: web.Request) -> web.Response:
        ready, checks = await self.readiness()
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(self.registry)
        # content_type carries its own charset parameter: set the header whole.
        return web.Response(body=body, headers={"Content-Type": content_type})
