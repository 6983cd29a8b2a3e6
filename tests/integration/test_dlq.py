"""`agentmesh dlq` as a person runs it (subprocesses) against an in-process agent and the real
broker: a poison record is dead-lettered, listed, shown and redriven; a redrive runs once
however often it is asked for, and work that keeps failing cannot be redriven forever."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from agentmesh.agents import Context, Mesh, StepPolicy, agent
from agentmesh.agents._worker import WorkerOptions
from agentmesh.contracts import Contract, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer
from tests.runtime_helpers import dead_letters, events_of, running, send_handoffs

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


class Job(Contract):
    text: str


class Done(Contract):
    text: str


RUNS: list[str] = []  # every input fixer's handler ran on, in order


@agent("fixer", output=Done, policy=StepPolicy(attempts=1))
async def fixer(job: Job, ctx: Context) -> Done:
    RUNS.append(job.text)
    if job.text == "poison":
        raise ValueError("poison pill")
    return Done(text=job.text.upper())


mesh = Mesh([fixer])
ONE_PARTITION = WorkerOptions(partitions=1, retry_backoff_s=0.2)


@pytest.fixture(autouse=True)
def _fresh_runs() -> None:
    RUNS.clear()


async def cli(s: Settings, *args: str) -> tuple[int, str, str]:
    # Straight to Kafka unless a test says --gateway, whatever this shell has set.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMESH_GATEWAY_")}
    env = {
        **inherited,
        "AGENTMESH_KAFKA_BOOTSTRAP": s.bootstrap,
        "AGENTMESH_SCHEMA_REGISTRY_URL": s.registry_url,
        "AGENTMESH_NAMESPACE": s.namespace,
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentmesh.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def cli_json(s: Settings, *args: str) -> Any:
    code, out, err = await cli(s, *args, "--json")
    assert code == 0, (out, err)
    return orjson.loads(out)


async def outcomes(settings: Settings, expected: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in await events_of(settings, expected, timeout=20):
        kind: str = e.body.kind
        if kind == "step_finished":
            kind += f":{getattr(e.body, 'outcome', '')}"
        out.setdefault(e.task_id, []).append(kind)
    return out


async def inbox_headers(settings: Settings, agent_name: str) -> list[dict[str, str]]:
    """Each record's headers on the agent's inbox, in order."""
    tp = TopicPartition(Topics(settings.namespace).agent(agent_name), 0)
    consumer = make_consumer(
        KafkaConnection.from_settings(settings), options=ConsumerOptions(group_id=None)
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        found: list[dict[str, str]] = []
        while await consumer.position(tp) < end:
            for rec in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                found.append({k: v.decode() for k, v in rec.headers})
        return found
    finally:
        await consumer.stop()


async def test_a_poison_record_redriven_twice_with_an_edit_runs_once_and_completes(
    settings: Settings,
) -> None:
    async with running(mesh, ["fixer"], settings, ONE_PARTITION):
        await send_handoffs(settings, mesh, "fixer", [Job(text="poison")], ["t1"])
        (letter,) = await dead_letters(settings, 1, timeout=20)
        listed = await cli_json(settings, "dlq", "list")
        position = listed[0]["position"]
        edit = ("--edit", '{"text": "fixed"}', "--reason", "typo in the job", "--by", "ops")
        # Twice at once, from two places, naming it two ways.
        first, second = await asyncio.gather(
            cli(settings, "dlq", "redrive", letter.dead_letter_id, *edit, "--json"),
            cli(settings, "dlq", "redrive", position, *edit, "--json"),
        )
        # And once more, after both: the agent drops it as a repeat.
        third = await cli(settings, "dlq", "redrive", letter.dead_letter_id, *edit, "--json")
        # A sentinel behind them on the partition: once it ran, both redrives were read.
        await send_handoffs(settings, mesh, "fixer", [Job(text="sentinel")], ["t2"])
        seen = await outcomes(settings, 6)
        headers = await inbox_headers(settings, "fixer")
    results = [orjson.loads(r[1])[0] for r in (first, second, third)]
    written = [r for r in results if r["ok"]]
    # A concurrent redrive of the same dead letter may fence the other's transaction; then
    # only one of the two was written, which is as good, and the other says so.
    assert [r["ok"] for r in results].count(True) >= 2, results
    assert all("took over" in r["error"] for r in results if not r["ok"])
    assert {w["idempotency_key"] for w in written} == {f"redrive:{letter.dead_letter_id}"}
    assert RUNS == ["poison", "fixed", "sentinel"]
    assert seen == {
        "t1": [
            "step_finished:dead_lettered",
            "task_failed",
            "task_completed",
            "step_finished:result",
        ],
        "t2": ["task_completed", "step_finished:result"],
    }
    lineage = {
        "agentmesh-redrive-of": letter.dead_letter_id,
        "agentmesh-redrive-from": f"{settings.namespace}.dlq@{position}",
        "agentmesh-redrive-by": "ops",
        "agentmesh-redrive-reason": "typo in the job",
        "agentmesh-redrive-count": "1",
    }
    redriven = headers[1 : 1 + len(written)]
    assert [{k: h[k] for k in lineage} for h in redriven] == [lineage] * len(written)


async def test_work_redriven_unedited_fails_again_with_its_count_until_the_limit(
    settings: Settings,
) -> None:
    async with running(mesh, ["fixer"], settings, ONE_PARTITION):
        await send_handoffs(settings, mesh, "fixer", [Job(text="poison")], ["t1"])
        (letter,) = await dead_letters(settings, 1, timeout=20)
        shown = await cli_json(settings, "dlq", "show", letter.dead_letter_id)
        code, text, _ = await cli(settings, "dlq", "show", shown["position"])
        done = await cli_json(
            settings, "dlq", "redrive", letter.dead_letter_id, "--reason", "again"
        )
        letters = await dead_letters(settings, 2, timeout=20)
        listed = await cli_json(settings, "dlq", "list")
        # Twice more (counts 2 and 3), then the limit.
        for expected in (3, 4):
            newest = next(e for e in listed if e["redrive_count"] == expected - 2)
            await cli_json(settings, "dlq", "redrive", newest["id"], "--reason", "again")
            await dead_letters(settings, expected, timeout=20)
            listed = await cli_json(settings, "dlq", "list")
        last = next(e for e in listed if e["redrive_count"] == 3)
        refused = await cli(settings, "dlq", "redrive", last["id"], "--reason", "once more")
    assert (shown["id"], shown["stage"], shown["error_class"], shown["task_id"]) == (
        letter.dead_letter_id,
        "handler",
        "ValueError",
        "t1",
    )
    assert shown["handoff"]["payload"] == {"text": "poison"}
    assert (shown["redrive_count"], shown["not_redrivable"]) == (0, None)
    assert code == 0
    assert letter.dead_letter_id in text
    assert '"text": "poison"' in text
    assert done[0]["redrive_count"] == 1
    again = next(d for d in letters if d.dead_letter_id != letter.dead_letter_id)
    assert {h.key: h.value for h in again.original_headers}["agentmesh-redrive-count"] == b"1"
    assert sorted(e["redrive_count"] for e in listed) == [0, 1, 2, 3]
    assert {e["id"]: e["redriven_from"] for e in listed}[again.dead_letter_id] == (
        letter.dead_letter_id
    )
    assert RUNS == ["poison"] * 4
    assert refused[0] == 2
    assert "redriven 3 times already, the limit (3)" in refused[1]


async def test_bad_requests_say_what_to_do(settings: Settings) -> None:
    async with running(mesh, ["fixer"], settings, ONE_PARTITION):
        await send_handoffs(settings, mesh, "fixer", [Job(text="poison")], ["t1"])
        (letter,) = await dead_letters(settings, 1, timeout=20)
        ident = letter.dead_letter_id
        wrong_field = await cli(
            settings, "dlq", "redrive", ident, "--edit", '{"txt": 1}', "--reason", "r", "--json"
        )
        unknown = await cli(settings, "dlq", "show", "9:999", "--json")
        no_reason = await cli(settings, "dlq", "redrive", ident)
    assert wrong_field[0] == 2
    (refusal,) = orjson.loads(wrong_field[1])
    assert (refusal["ok"], refusal["id"]) == (False, ident)
    assert "does not fit the handoff schema" in refusal["error"]
    assert unknown[0] == 1
    assert "no dead letter '9:999'" in orjson.loads(unknown[1])["error"]
    assert no_reason[0] == 1
    assert "--reason is required" in no_reason[2]
    assert RUNS == ["poison"]
