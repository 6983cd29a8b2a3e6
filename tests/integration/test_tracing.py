"""Traces with no code: the demo task, every process exporting to a real Jaeger by OTEL_* alone.

The demo runs as users run it (`agentmesh demo`: every agent, the supervisor and the gateway
in their own processes); the test reads the trace back through Jaeger's query API.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from agentmesh.core import Settings
from agentmesh.core.views import read_timeline
from tests.jaeger_helpers import Jaeger, JaegerSpan, jaeger_running
from tests.ports import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(420)]

AGENTS = ("planner", "researcher", "reviewer", "writer")
SERVICES = {"agentmesh.cli", "agentmesh.supervisor", *(f"agentmesh.agent.{a}" for a in AGENTS)}


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    with jaeger_running(tmp_path_factory.mktemp("jaeger")) as running:
        yield running


class _Demo:
    """`agentmesh demo` kept running after its task (no --once) until the test is done."""

    def __init__(self, settings: Settings, workdir: Path, otel: dict[str, str]) -> None:
        self.out = workdir / "demo.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            {
                "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
                "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
                "AGENTMESH_NAMESPACE": settings.namespace,
                "AGENTMESH_DATA_DIR": str(workdir),
                "COLUMNS": "400",  # the gateway's address and tokens on one line
                # A port of its own: another demo finding the default free would take it too
                # (the gateway binds it seconds after the check), and answer our requests.
                "AGENTMESH_GATEWAY_PORT": str(free_port()),
                **otel,
            }
        )
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentmesh.cli", "demo", "--timeout-s", "150"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def task_id(self, timeout_s: float = 240.0) -> str:
        """The demo task's id, once the task completed."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.out.read_text(errors="replace")
            if "completed in" in text:
                found = re.search(r"submitted task (\w+)", text)
                assert found, text
                return found.group(1)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo task did not complete:\n{text[-4000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops what it started
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_demo(settings: Settings, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], _Demo]]:
    started: list[_Demo] = []

    def start(otel: dict[str, str]) -> _Demo:
        started.append(_Demo(settings, tmp_path, otel))
        return started[-1]

    yield start
    for demo in started:
        demo.stop()


def _complete(spans: list[JaegerSpan], services: set[str] = SERVICES) -> bool:
    """The whole task is in: every service, the supervisor saw the task end, and every
    span's parent has arrived (a process exports its spans in batches on its own clock, so
    a step's span can arrive after its children and after the supervisor's verdict)."""
    names = {s.name for s in spans}
    ids = {s.span_id for s in spans}
    parents = {s.parent_id for s in spans if s.parent_id is not None}
    return (
        {s.service for s in spans} >= services
        and "supervisor task_completed" in names
        and parents <= ids
    )


def test_the_demo_task_is_one_trace_across_every_process(
    jaeger: Jaeger, start_demo: Callable[[dict[str, str]], _Demo], settings: Settings
) -> None:
    demo = start_demo(jaeger.otel_env())
    task_id = demo.task_id()
    by_task = {"agentmesh.task_id": task_id}
    (submitted,) = jaeger.wait_for(
        "the submitter's span", lambda: jaeger.traces("agentmesh.cli", **by_task)
    )
    trace_id = submitted[0].trace_id
    spans: list[JaegerSpan] = jaeger.wait_for(
        f"every process's spans in trace {trace_id}",
        lambda: (found := jaeger.trace(trace_id)) and _complete(found) and found,
    )

    # one trace: whatever span of any process names the task is in this one
    for service in SERVICES:
        assert {s[0].trace_id for s in jaeger.traces(service, **by_task)} == {trace_id}
    # no orphans: one root, the submission, and every parent is in the trace
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id is None]
    entry = f"{settings.namespace}.agent.planner"
    assert [(r.service, r.name) for r in roots] == [("agentmesh.cli", f"send {entry}")]
    assert {s.parent_id for s in spans if s.parent_id is not None} <= ids
    # every agent's step is a child of the step (or submission) that handed off to it
    steps = [s for s in spans if s.tags.get("messaging.operation.type") == "process"]
    assert {s.service for s in steps} == {f"agentmesh.agent.{a}" for a in AGENTS}
    assert all(s.tags["agentmesh.task_id"] == task_id for s in steps)
    # model calls follow the GenAI conventions, with tokens and cost
    chats = [s for s in spans if s.tags.get("gen_ai.operation.name") == "chat"]
    assert chats
    for chat in chats:
        assert chat.name == f"chat {chat.tags['gen_ai.response.model']}"
        assert chat.tags["gen_ai.provider.name"] == "scripted"
        assert chat.tags["gen_ai.usage.input_tokens"] > 0
        assert chat.tags["gen_ai.usage.output_tokens"] > 0
        assert chat.tags["agentmesh.cost_usd"] >= 0
    tools = [s for s in spans if s.tags.get("gen_ai.operation.name") == "execute_tool"]
    assert {t.tags["gen_ai.tool.name"] for t in tools} == {"search"}
    # the supervisor's verdict on the task, with what it used
    (done,) = [s for s in spans if s.name == "supervisor task_completed"]
    assert done.tags["agentmesh.task_id"] == task_id
    assert done.tags["agentmesh.decision.steps"] == len(chats) + len(tools)

    # A task submitted through the gateway: the request's span is its trace's root.
    gateway_task = _submit_through_gateway(demo.out.read_text())
    spans = jaeger.wait_for(
        "the trace of the task submitted through the gateway",
        lambda: _task_trace(jaeger, gateway_task),
    )
    roots = [s for s in spans if s.parent_id is None]
    assert [(r.service, r.name) for r in roots] == [("agentmesh.gateway", "POST /v1/tasks")]
    assert {s.parent_id for s in spans if s.parent_id is not None} <= {s.span_id for s in spans}


def _submit_through_gateway(demo_out: str) -> str:
    found = re.search(r"gateway: (http://[\d.:]+) .* admin (\S+)", demo_out)
    assert found, demo_out
    url, token = found.groups()
    resp = httpx.post(
        f"{url}/v1/tasks",
        json={"agent": "planner", "input": {"question": "Where do traces start?"}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert resp.status_code == 202, resp.text
    task_id: str = resp.json()["task_id"]
    return task_id


def _task_trace(jaeger: Jaeger, task_id: str) -> list[JaegerSpan] | None:
    """The whole trace of ``task_id`` once the supervisor saw it end, else None."""
    found = jaeger.traces("agentmesh.supervisor", **{"agentmesh.task_id": task_id})
    if not found:
        return None
    (spans,) = found
    return spans if _complete(spans, SERVICES - {"agentmesh.cli"} | {"agentmesh.gateway"}) else None


def test_a_task_not_sampled_at_its_root_is_recorded_nowhere_downstream(
    jaeger: Jaeger, start_demo: Callable[[dict[str, str]], _Demo], settings: Settings
) -> None:
    # The mesh samples everything it is asked to (the default, parent-based, sampler) ...
    demo = start_demo(jaeger.otel_env())
    traced = demo.task_id()
    planner = "agentmesh.agent.planner"
    jaeger.wait_for(
        "the demo task", lambda: jaeger.traces(planner, **{"agentmesh.task_id": traced})
    )
    # ... and a task whose submitter samples nothing is recorded by no process at all.
    root_env = jaeger.otel_env(
        OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0"
    )
    task_id = _submit(settings, root_env)
    timeline = asyncio.run(read_timeline(settings, task_id, until_finished=True, timeout_s=120))
    assert timeline.output_json is not None, timeline.failure
    time.sleep(3)  # many times the export delay: whatever was recorded would be in by now
    by_task = {"agentmesh.task_id": task_id}
    recorded = [s for s in jaeger.services() if jaeger.traces(s, **by_task)]
    assert recorded == []


def _submit(settings: Settings, otel: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
            "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
            "AGENTMESH_NAMESPACE": settings.namespace,
            **otel,
        }
    )
    question = '{"question": "Why do traces need a root?"}'
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentmesh.cli",
            "task",
            "submit",
            "planner",
            "--input",
            question,
            "--app",
            "agentmesh_examples.research:mesh",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    task_id: str = json.loads(done.stdout)["task_id"]
    return task_id
