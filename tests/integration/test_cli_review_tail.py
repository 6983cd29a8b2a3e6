"""`agentmesh review` and `agentmesh tail` as a person runs them (subprocesses), against a
real supervisor, an in-process payer agent and the real broker: straight to Kafka, and
through a gateway."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import AuditRecord, SchemaRegistry, Topics
from agentmesh.core import Settings
from tests.apps import governed
from tests.apps.governed import Refund
from tests.gateway_helpers import TOKENS, free_port, serving
from tests.runtime_helpers import events_of, running, wait_for
from tests.supervisor_helpers import SupervisorProcess, decoded

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

POLICY = """
reviews:
  rules:
    - {name: big refunds need a person, tool: refund, approvals: 1, field: {path: amount, gt: 100}}
"""


@pytest.fixture
def governed_settings(settings: Settings, tmp_path: Path) -> Settings:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return settings.model_copy(update={"policy": policy})


@pytest.fixture
async def supervisor(governed_settings: Settings, tmp_path: Path) -> AsyncIterator[None]:
    assert governed_settings.policy is not None
    sup = SupervisorProcess(governed_settings, governed_settings.policy, tmp_path).start()
    await sup.wait_ready()
    yield
    sup.kill9()  # its state is in Kafka; a graceful faust stop takes ~15 s


def _env(s: Settings) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AGENTMESH_GATEWAY_URL", "AGENTMESH_GATEWAY_TOKEN")
    }
    return {
        **env,
        "AGENTMESH_KAFKA_BOOTSTRAP": s.bootstrap,
        "AGENTMESH_SCHEMA_REGISTRY_URL": s.registry_url,
        "AGENTMESH_NAMESPACE": s.namespace,
        "COLUMNS": "200",
    }


async def _start(s: Settings, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentmesh.cli",
        *args,
        env=_env(s),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def cli(s: Settings, *args: str) -> tuple[int, str, str]:
    """Run `agentmesh ARGS` to its end: (exit code, stdout, stderr)."""
    proc = await _start(s, *args)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert b"Traceback" not in err, err.decode()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def cli_json(s: Settings, *args: str) -> Any:
    code, out, err = await cli(s, *args, "--json")
    assert code == 0, f"agentmesh {' '.join(args)} failed ({code}):\n{out}\n{err}"
    return orjson.loads(out)


class Follower:
    """`agentmesh tail ... --follow --json` running in the background."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, s: Settings, *args: str) -> Follower:
        follower = cls(await _start(s, "tail", *args, "--follow", "--json"))
        assert follower.proc.stderr is not None
        said = await asyncio.wait_for(follower.proc.stderr.readline(), 30)
        assert b"following" in said, said  # its reading position is fixed from here on
        return follower

    async def until(self, decision: str, task_id: str, timeout: float = 45) -> dict[str, Any]:
        assert self.proc.stdout is not None
        stdout = self.proc.stdout

        async def read() -> dict[str, Any]:
            while True:
                raw = await stdout.readline()
                assert raw, "tail --follow ended on its own"
                line = orjson.loads(raw)
                self.lines.append(line)
                value = line["value"]
                if value["decision"] == decision and value["task_id"] == task_id:
                    return dict(line)

        found = await asyncio.wait_for(read(), timeout)
        assert self.proc.returncode is None, "it was still following"
        return found

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


async def _submit(s: Settings, order: str, amount: float) -> str:
    registry = SchemaRegistry(s.registry_url)
    try:
        task = await submit_task(
            s, governed.mesh, "payer", Refund(order=order, amount=amount), registry
        )
    finally:
        await registry.close()
    return task.task_id


async def _audited(s: Settings, task_id: str, decision: str) -> list[AuditRecord]:
    records = await decoded(s, Topics(s.namespace).audit, AuditRecord, None, timeout=1)
    return [r for r in records if r.task_id == task_id and r.decision == decision]


async def _known_to_supervisor(s: Settings, task_id: str) -> None:
    # Parked by the agent and taken in by the supervisor (a decision before that is ignored).
    await wait_for(lambda: _audited(s, task_id, "review_requested"), timeout=45)


async def test_review_and_tail_straight_to_kafka(
    governed_settings: Settings, supervisor: None
) -> None:
    s = governed_settings
    governed.REFUNDS.clear()
    async with running(governed.mesh, ["payer"], s):
        task_id = await _submit(s, "o-cli", 150)
        await _known_to_supervisor(s, task_id)

        listed = await cli_json(s, "review", "list")
        (item,) = [i for i in listed if i["task_id"] == task_id]
        assert (item["status"], item["kind"], item["agent"]) == ("pending", "tool_call", "payer")
        assert item["required_approvals"] == 1
        assert item["shown_sha256"] == hashlib.sha256(item["payload_json"].encode()).hexdigest()
        assert governed.REFUNDS == []

        follower = await Follower.start(s, "audit")
        try:
            decided = await cli_json(
                s,
                "review",
                "approve",
                item["review_id"],
                "--reason",
                "customer verified",
                "--by",
                "alice",
                "--shown-sha256",
                item["shown_sha256"],
            )
            assert (decided["decision"], decided["reviewer"], decided["signed"]) == (
                "approve",
                "alice",
                False,
            )
            line = await follower.until("review_released", task_id)
        finally:
            await follower.stop()
        assert line["topic"] == Topics(s.namespace).audit
        assert orjson.loads(line["value"]["details_json"])["reviewers"] == ["alice"]

        async def completed() -> bool:
            events = await events_of(s, None, timeout=1)
            return any(e.task_id == task_id and e.body.kind == "task_completed" for e in events)

        await wait_for(completed, timeout=30)
    assert [(r.order, r.amount) for r in governed.REFUNDS] == [("o-cli", 150.0)]

    again, unknown, audit, events, inbox = await asyncio.gather(
        cli(s, "review", "approve", item["review_id"], "--reason", "me too", "--by", "bob"),
        cli(s, "review", "reject", "no-such-review", "--reason", "x"),
        cli(s, "tail", "audit", "--task", task_id, "--json"),
        cli(s, "tail", "events", "--task", task_id),
        cli(s, "tail", Topics(s.namespace).agent("payer"), "--json"),
    )
    assert again[0] == 1
    assert "released already" in again[2]
    assert unknown[0] == 1
    assert "no review 'no-such-review'" in unknown[2]
    # Without --follow: what is there, then exit.
    assert audit[0] == 0
    decisions = [orjson.loads(x)["value"]["decision"] for x in audit[1].splitlines()]
    assert decisions[:2] == ["review_requested", "review_released"]
    assert events[0] == 0
    assert "task completed" in events[1]
    assert "tool refund" in events[1]
    # Any topic: decoded with its writer schema from the registry.
    handoffs = [orjson.loads(x) for x in inbox[1].splitlines()]
    assert inbox[0] == 0
    assert handoffs
    mine = [h for h in handoffs if h["value"].get("task_id") == task_id]
    assert mine
    assert isinstance(mine[0]["schema_id"], int)

    cancelled = await cli_json(s, "task", "cancel", task_id, "--reason", "drill", "--by", "ops")
    assert (cancelled["scope"], cancelled["target"], cancelled["action"]) == (
        "task",
        task_id,
        "cancel",
    )
    code, out, _ = await cli(s, "tail", "control", "--task", task_id, "--json")
    assert code == 0
    actions = [orjson.loads(x)["value"] for x in out.splitlines()]
    assert any(a["action"] == "cancel" and a["issued_by"] == "ops" for a in actions)


async def test_review_and_tail_through_the_gateway(
    governed_settings: Settings, supervisor: None, tmp_path: Path
) -> None:
    s = governed_settings
    governed.REFUNDS.clear()
    rita = {"Authorization": f"Bearer {TOKENS['rita']}"}
    async with (
        running(governed.mesh, ["payer"], s),
        serving(s, tmp_path) as url,
        httpx.AsyncClient(base_url=url, timeout=10, headers=rita) as c,
    ):
        as_ = {name: ("--gateway", url, "--token", token) for name, token in TOKENS.items()}
        task_id = await _submit(s, "o-gw", 300)
        await _known_to_supervisor(s, task_id)

        async def in_view(status: str) -> bool:  # the gateway's view has caught up
            r = await c.get("/v1/reviews", params={"status": status})
            return r.status_code == 200 and any(i["task_id"] == task_id for i in r.json())

        await wait_for(lambda: in_view("pending"), timeout=30)
        listed = await cli_json(s, "review", "list", *as_["rita"])
        (item,) = [i for i in listed if i["task_id"] == task_id]
        assert (item["status"], item["kind"]) == ("pending", "tool_call")
        review_id = item["review_id"]

        # What goes wrong is said in words.
        nobody, wrong, denied, down = await asyncio.gather(
            cli(s, "review", "list", "--gateway", url),
            cli(s, "review", "list", "--gateway", url, "--token", "x" * 20),
            cli(s, "review", "reject", review_id, "--reason", "no", *as_["sam"]),
            cli(s, "review", "list", "--gateway", f"http://127.0.0.1:{free_port()}"),
        )
        assert (nobody[0], "needs a token" in nobody[2]) == (1, True)
        assert (wrong[0], "does not accept this token" in wrong[2]) == (1, True)
        assert denied[0] == 1
        assert "needs role: reviewer" in denied[2]
        assert "403" in denied[2]
        assert (down[0], "cannot reach the gateway" in down[2]) == (1, True)

        # The gateway's audit stream fixes its live position lazily (no signal when it is
        # live): --since keeps this test from racing it; the direct test starts live.
        follower = await Follower.start(
            s, "audit", "--since", "10m", "--task", task_id, *as_["ada"]
        )
        try:
            rejected = await cli_json(
                s, "review", "reject", review_id, "--reason", "duplicate claim", *as_["rita"]
            )
            assert (rejected["decision"], rejected["reviewer"]) == ("reject", "rita")
            assert rejected["signed"] is True
            line = await follower.until("review_rejected", task_id)
        finally:
            await follower.stop()
        assert line["id"]  # the stream position to resume from

        await wait_for(lambda: in_view("rejected"), timeout=30)
        second = await cli(s, "review", "reject", review_id, "--reason", "me too", *as_["rob"])
        assert second[0] == 1
        assert "rejected already" in second[2]
        assert "409" in second[2]

        code, out, _ = await cli(s, "tail", "events", "--task", task_id, "--json", *as_["ada"])
        assert code == 0
        kinds = [orjson.loads(x)["value"]["body"]["kind"] for x in out.splitlines()]
        assert kinds[-1] == "task_failed"
        cancel = await cli_json(s, "task", "cancel", task_id, "--reason", "tidy", *as_["sam"])
        assert cancel["command_id"]
        assert governed.REFUNDS == []
        await _task_commands_through_the_gateway(s, as_)


async def _task_commands_through_the_gateway(
    s: Settings, as_: Mapping[str, tuple[str, ...]]
) -> None:
    """`task submit | watch | show` over the gateway: no --app, the submitter's token."""
    submit = ("task", "submit", "payer", "--input", '{"order": "o-cli", "amount": 5}')
    first = await cli_json(s, *submit, "--idempotency-key", "cli-gw-1", *as_["sam"])
    again = await cli_json(s, *submit, "--idempotency-key", "cli-gw-1", *as_["sam"])
    assert (first["duplicate"], again) == (False, {**first, "duplicate": True})
    task_id = first["task_id"]
    code, out, err = await cli(s, "task", "watch", task_id, "--timeout-s", "60", *as_["sam"])
    assert code == 0, f"{out}\n{err}"
    assert "task completed" in out
    shown = await cli_json(s, "task", "show", task_id, *as_["ada"])
    assert (shown["state"], shown["output"]) == ("completed", {"order": "o-cli", "refunded": 5.0})
    assert [r.order for r in governed.REFUNDS] == ["o-cli"]  # once, despite the retry
    bad = await cli(s, "task", "submit", "nobody", "--input", "{}", *as_["sam"])
    assert bad[0] == 1
    assert "payer" in bad[2], bad[2]  # the known agents are named
    denied = await cli(s, *submit, *as_["rita"])
    assert (denied[0], "needs role: submitter" in denied[2]) == (1, True)
