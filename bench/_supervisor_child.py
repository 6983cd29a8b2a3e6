"""One timed case of ``bench.supervisor``, in a process of its own (faust owns the loop).

``python -m bench._supervisor_child {baseline,supervisor} --namespace NS --events N ...``
starts a faust worker that reads ``<NS>.events`` from the beginning, times the fold from the
first event to the N-th, prints one ``RESULT {json}`` line on stdout and stops itself.

* ``baseline``: a bare faust app with one agent that counts events per key in a
  changelog-backed table, on the supervisor's ``read_committed`` transport and client settings;
* ``supervisor``: agentmesh's :class:`Supervisor` with the benchmark's policy (budgets, loops,
  breakers and tenant spend on), its governor's ``govern`` wrapped to count what it folded;
* ``floor``: a faust agent that only iterates the events (no table, no decoding).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from collections.abc import Sequence
from typing import Any

import faust
import orjson

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection
from agentmesh.supervisor._app import Supervisor, SupervisorOptions
from agentmesh.supervisor._faust import new_app
from agentmesh.supervisor._governor import Governor, Inbound
from agentmesh.supervisor._topology import ensure_supervisor_topics
from bench._supervisor_load import bench_policy

__all__ = ["BASELINE_SUFFIX", "RESULT", "FoldTimer", "main"]

RESULT = "RESULT "
BASELINE_SUFFIX = "bench-baseline"


class FoldTimer:
    """Counts handled events; at the ``target``-th, reports the time since the first one.

    The clock starts once the first event is handled, so one-off work on the first record
    (the schema fetched from the registry, lazy set-up) is outside the timed window: the
    window holds ``target - 1`` events. An event whose fold raised counts as handled, and
    as failed: faust restarts the agent but acks the event, so it never comes again, and
    waiting for it would never end.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.failed = 0
        self._start = 0.0
        self._cpu_start = 0.0

    def folded(self, *, failed: bool = False) -> None:
        self.count += 1
        self.failed += failed
        if self.count == 1:
            self._start, self._cpu_start = time.perf_counter(), time.process_time()
        elif self.count == self.target:
            elapsed = time.perf_counter() - self._start
            cpu = time.process_time() - self._cpu_start
            result = {
                "events": self.target - 1,
                "elapsed_s": elapsed,
                "cpu_s": cpu,
                "failed": self.failed,
            }
            # To the real stdout: the faust worker redirects sys.stdout into its log.
            os.write(1, RESULT.encode() + orjson.dumps(result) + b"\n")
            # faust's own shutdown: commit, flush the changelog, leave the group.
            os.kill(os.getpid(), signal.SIGTERM)


class CountingGovernor(Governor):
    """The supervisor's governor, unchanged, counting the events it folded."""

    timer: FoldTimer  # given by CountingSupervisor once it is ready, before any record

    async def govern(self, rec: Inbound) -> None:
        if rec.topic != self.topics.events:
            await super().govern(rec)
            return
        try:
            await super().govern(rec)
        except BaseException:
            self.timer.folded(failed=True)
            raise
        self.timer.folded()


class CountingSupervisor(Supervisor):
    """The supervisor, unchanged, with a count of the events its governor folded."""

    governor_type = CountingGovernor

    def __init__(self, *args: Any, timer: FoldTimer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timer = timer

    async def ready(self) -> None:
        await super().ready()  # the govern agent awaits this before its first record
        assert isinstance(self.governor, CountingGovernor)
        self.governor.timer = self.timer


def _events_app(settings: Settings, suffix: str, partitions: int, replication: int) -> Any:
    """A faust app with the supervisor's settings and transport, and its events topic."""
    app = new_app(
        settings,
        f"{settings.namespace}.{suffix}",
        partitions=partitions,
        replication_factor=replication,
    )
    return app, app.topic(Topics(settings.namespace).events, key_type=bytes, value_type=bytes)


def baseline_app(settings: Settings, partitions: int, replication: int, timer: FoldTimer) -> Any:
    """A bare faust counter with the supervisor's app settings, transport and table kind."""
    app, events = _events_app(settings, BASELINE_SUFFIX, partitions, replication)
    counts: Any = app.Table("counts", default=int)
    counts.value_serializer = "json"  # the app's default, raw, takes bytes only

    async def count(stream: Any) -> None:
        async for event in stream.events():
            try:
                counts[event.key] += 1
            except BaseException:
                timer.folded(failed=True)
                raise
            timer.folded()

    app.agent(events, name="count")(count)
    return app


def floor_app(settings: Settings, partitions: int, replication: int, timer: FoldTimer) -> Any:
    """A faust agent that does nothing with the events: what faust alone costs per event."""
    app, events = _events_app(settings, "bench-floor", partitions, replication)

    async def iterate(stream: Any) -> None:
        async for _ in stream.events():
            timer.folded()

    app.agent(events, name="iterate")(iterate)
    return app


def supervisor_app(settings: Settings, timer: FoldTimer) -> Any:
    """agentmesh's supervisor app, set up the way ``agentmesh run supervisor`` sets it up."""
    layout = asyncio.run(
        ensure_supervisor_topics(KafkaConnection.from_settings(settings), settings)
    )
    options = SupervisorOptions(
        partitions=layout.partitions,
        audit_partitions=layout.audit_partitions,
        replication_factor=layout.replication_factor,
        instance=f"supervisor-{os.getpid()}",
    )
    return CountingSupervisor(settings, bench_policy(), options, timer=timer).app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench._supervisor_child")
    parser.add_argument("case", choices=["baseline", "supervisor", "floor"])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry-url", required=True)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--replication", type=int, default=1)
    parser.add_argument("--loglevel", default="info")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = Settings(
        namespace=args.namespace,
        kafka_bootstrap=args.bootstrap,
        schema_registry_url=args.registry_url,
    )
    timer = FoldTimer(args.events)
    if args.case == "baseline":
        app = baseline_app(settings, args.partitions, args.replication, timer)
    elif args.case == "floor":
        app = floor_app(settings, args.partitions, args.replication, timer)
    else:
        app = supervisor_app(settings, timer)
    faust.Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
