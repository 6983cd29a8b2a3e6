"""The cases of ``bench.submit``: each puts N new tasks for agent ``intake`` into Kafka and
returns how long that took.

The baseline is the per-call path ``submit_task`` had before the Submitter (kept here as it
was): a new transactional producer, an admin round trip for the topics and schema lookups
for every task.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from agentmesh.agents import Submission, Submitter, submit_task
from agentmesh.agents._build_task import build_task
from agentmesh.contracts import Budget, Codec, SchemaRegistry, TaskSubmitted, Topics, new_id
from agentmesh.core import Settings
from agentmesh.core.transport import (
    KafkaConnection,
    ProducerOptions,
    TopicSpec,
    ensure_topics,
    make_producer,
)
from bench._gateway_server import AGENT, MESH, Server
from bench._gateway_tool import LoadRun, LoadTool, Request, run_load

__all__ = ["Context", "Timing", "old_submit_task", "order"]

APP = "bench._gateway_server:MESH"  # the mesh as `--app` and AGENTMESH_APP name it
_ROOT = Path(__file__).resolve().parent.parent


def order(i: int) -> dict[str, Any]:
    """The input of task ``i``: small, as a real order lookup or refund is."""
    return {"order": f"o-{i}", "amount": 12.5}


@dataclass
class Timing:
    """One run of one case: seconds for ``tasks`` tasks, and what did not go as expected."""

    tasks: int
    seconds: float
    failures: dict[str, int] = field(default_factory=dict)
    load: LoadRun | None = None  # the load tool's own report, for the gateway

    @property
    def tasks_per_s(self) -> float:
        if self.load is not None:
            return self.load.requests_per_s
        return self.tasks / self.seconds


@dataclass
class Context:
    """What the cases share: the settings, one registry client, one open Submitter, the
    gateway and its load tool (when measured), a scratch directory."""

    settings: Settings
    registry: SchemaRegistry
    submitter: Submitter
    scratch: Path
    server: Server | None = None
    tool: LoadTool | None = None
    concurrency: int = 64
    counter: int = 0

    def next_orders(self, n: int) -> list[dict[str, Any]]:
        start, self.counter = self.counter, self.counter + n
        return [order(i) for i in range(start, start + n)]


async def old_submit_task(
    settings: Settings, agent: str, payload: dict[str, Any], registry: SchemaRegistry
) -> TaskSubmitted:
    """``submit_task`` as it was: everything set up, used once and torn down per task."""
    task, handoff = build_task(
        MESH,
        agent,
        payload,
        budget=Budget(),
        task_id=None,
        tenant="default",
        submitted_by="bench",
        idempotency_key=None,
    )
    topics = Topics(settings.namespace)
    task_codec = Codec(TaskSubmitted, Topics.subject(topics.tasks), registry)
    inbox_codec = Codec(MESH.inbox_model(agent), Topics.subject(topics.agent(agent)), registry)
    await task_codec.register()
    await inbox_codec.register()
    conn = KafkaConnection.from_settings(settings)
    rf = settings.replication_factor
    specs = [TopicSpec(topics.tasks, 6, rf), TopicSpec(topics.agent(agent), 6, rf)]
    await ensure_topics(conn, specs)
    producer = make_producer(conn, ProducerOptions(transactional_id=f"submit-{new_id()}"))
    await producer.start()
    try:
        key = task.task_id.encode()
        async with producer.transaction():
            await producer.send(topics.tasks, task_codec.encode(task), key=key)
            await producer.send(topics.agent(agent), inbox_codec.encode(handoff), key=key)
    finally:
        await producer.stop()
    return task


async def per_call_before(ctx: Context, n: int) -> Timing:
    """(a) the baseline: the old per-call path, one task after another."""
    start = time.perf_counter()
    for payload in ctx.next_orders(n):
        await old_submit_task(ctx.settings, AGENT, payload, ctx.registry)
    return Timing(n, time.perf_counter() - start)


async def per_call_now(ctx: Context, n: int) -> Timing:
    """(b) ``submit_task`` today: a Submitter opened and closed for each task."""
    start = time.perf_counter()
    for payload in ctx.next_orders(n):
        await submit_task(ctx.settings, MESH, AGENT, payload, ctx.registry, submitted_by="bench")
    return Timing(n, time.perf_counter() - start)


async def one_by_one(ctx: Context, n: int) -> Timing:
    """(c) one open Submitter, each task awaited before the next: a commit per task."""
    start = time.perf_counter()
    for payload in ctx.next_orders(n):
        await ctx.submitter.submit(AGENT, payload)
    return Timing(n, time.perf_counter() - start)


async def group_commit(ctx: Context, n: int) -> Timing:
    """(d) one open Submitter, ``submit_many``: tasks in flight together share commits."""
    batch = [Submission(AGENT, payload) for payload in ctx.next_orders(n)]
    start = time.perf_counter()
    results = await ctx.submitter.submit_many(batch)
    seconds = time.perf_counter() - start
    failed = [type(r).__name__ for r in results if isinstance(r, Exception)]
    return Timing(n, seconds, {name: failed.count(name) for name in set(failed)})


async def gateway(ctx: Context, n: int) -> Timing:
    """(e) POST /v1/tasks to a gateway process, ``concurrency`` requests in flight."""
    assert ctx.server is not None
    assert ctx.tool is not None
    auth = {"Authorization": f"Bearer {ctx.server.token}", "Content-Type": "application/json"}
    body = orjson.dumps({"agent": AGENT, "input": order(0)})
    request = Request("POST", f"{ctx.server.url}/v1/tasks", auth, body)
    start = time.perf_counter()
    load = await asyncio.to_thread(
        run_load, ctx.tool, request, requests=n, concurrency=ctx.concurrency
    )
    seconds = time.perf_counter() - start
    return Timing(load.responses, seconds, load.unexpected(202), load)


async def cli_file(ctx: Context, n: int) -> Timing:
    """(f) ``agentmesh task submit --file`` of n lines, as a process: start-up included."""
    with tempfile.NamedTemporaryFile("wb", dir=ctx.scratch, suffix=".jsonl") as lines:
        lines.write(b"".join(orjson.dumps({"input": o}) + b"\n" for o in ctx.next_orders(n)))
        lines.flush()
        argv = ["task", "submit", AGENT, "--file", lines.name, "--app", APP, "--json"]
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agentmesh.cli",
            *argv,
            env=_cli_env(ctx.settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        seconds = time.perf_counter() - start
    ok = sum(1 for line in out.splitlines() if orjson.loads(line).get("ok"))
    failures = {} if proc.returncode == 0 and ok == n else {f"exit {proc.returncode}": n - ok}
    if failures:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    return Timing(n, seconds, failures)


def _cli_env(settings: Settings) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "AGENTMESH_NAMESPACE": settings.namespace,
        "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
        "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
    }


CASES = {
    "a": ("(a) per call, as before", per_call_before),
    "b": ("(b) submit_task, per call", per_call_now),
    "c": ("(c) Submitter.submit, one by one", one_by_one),
    "d": ("(d) Submitter.submit_many", group_commit),
    "e": ("(e) gateway POST /v1/tasks", gateway),
    "f": ("(f) CLI task submit --file", cli_file),
}
