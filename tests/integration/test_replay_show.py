"""`agentmesh replay show`: a fanned-out task told as a tree of steps, and the decisions of a
real supervisor about a task, from the real topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmesh.agents._submit import submit_task
from agentmesh.contracts import AuditRecord, Contract, SchemaRegistry, Topics
from agentmesh.core import Settings
from agentmesh.core.views._story import read_story
from tests.apps import governed
from tests.apps.governed import Lookup, Spin
from tests.integration.test_cli_review_tail import cli, cli_json
from tests.runtime_helpers import run_pipeline_task, running, wait_for
from tests.supervisor_helpers import SupervisorProcess, decoded

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_a_fanned_out_task_is_told_as_a_tree_with_every_call(settings: Settings) -> None:
    task_id = await run_pipeline_task(settings, parts=2)

    story = await read_story(settings, task_id)
    (root,) = story.roots
    assert (root.agent, root.hop, root.outcome) == ("planner", 0, "handoff")
    assert root.input_json is not None
    assert '"why"' in root.input_json
    (asked,) = root.calls
    assert (asked.kind, asked.target, asked.status) == ("llm_call", "scripted", "ok")
    assert "split: why" in (asked.request_json or "")
    assert "sub-question" in (asked.response_json or "")
    assert [c.agent for c in root.children] == ["worker", "worker"]  # the fan-out
    for worker in root.children:
        assert [(c.kind, c.target) for c in worker.calls] == [("tool_call", "search")]
        assert [c.agent for c in worker.children] == ["collector"]
    assert story.tokens == root.tokens > 0
    assert story.decisions == []  # no supervisor ran

    shown = await cli_json(settings, "replay", "show", task_id)
    assert shown == orjson_roundtrip(story.as_json())
    code, text, _ = await cli(settings, "replay", "show", task_id)
    assert code == 0
    assert "planner (hop 0) handoff" in text
    assert "tool call search" in text
    assert 'input {"question":"why","parts":2}\n' in text  # the payload, not the envelope


def orjson_roundtrip(data: object) -> object:
    import orjson

    return orjson.loads(orjson.dumps(data))


SUPERVISED = """
budgets:
  default: {max_steps: 5}
breakers: {window_s: 30, min_calls: 3, failure_rate: 0.5, cooldown_s: 60}
"""


async def test_the_story_shows_what_a_real_supervisor_decided_with_its_audit_links(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runaway task stopped at its budget, and a task whose failing tool opened its
    breaker: each story shows the supervisor's decisions (the breaker's, audited without a
    task, matched by the tool the task called and when)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(SUPERVISED)
    s = settings.model_copy(update={"policy": policy})
    topics = Topics(s.namespace)
    flag = tmp_path / "lookup-down"
    flag.touch()
    monkeypatch.setenv("GOVERNED_FAIL_FLAG", str(flag))
    sup = SupervisorProcess(s, policy, tmp_path).start()
    try:
        await sup.wait_ready()
        async with running(governed.mesh, ["looper", "fetcher"], s):
            # Submitted without the policy: the supervisor, not the agent, stops it.
            runaway = await _submit(settings, "looper", Spin())
            failing = await _submit(settings, "fetcher", Lookup(key="k"))

            async def decided() -> bool:
                audit = await decoded(s, topics.audit, AuditRecord, None, timeout=1)
                seen = {(a.task_id, a.decision) for a in audit}
                wanted = {(runaway, "budget_breach"), (runaway, "review_requested")}
                return {*wanted, (None, "breaker_transition")} <= seen

            await wait_for(decided, timeout=90)
    finally:
        sup.terminate()

    story = await read_story(s, runaway)
    assert [d.decision for d in story.decisions][:2] == ["budget_breach", "review_requested"]
    shown = await cli_json(s, "replay", "show", runaway)
    breach = shown["decisions"][0]
    (audited,) = [a for a in story.decisions if a.decision == "budget_breach"]
    assert (breach["decision"], breach["subject"], breach["audit"]) == (
        "budget_breach",
        runaway,
        {"chain": audited.chain, "seq": audited.seq, "sha256": audited.sha256},
    )
    assert "steps used 6, allowed 5" in str(breach["details"])

    broken = await read_story(s, failing)
    moves = [(d.decision, d.subject) for d in broken.decisions]
    assert ("breaker_transition", "tool:lookup") in moves
    assert all(d.task_id in (failing, None) for d in broken.decisions)
    assert not [d for d in story.decisions if d.subject == "tool:lookup"]  # not the looper's
    code, text, _ = await cli(s, "replay", "show", failing)
    assert code == 0
    assert "breaker_transition" in text
    assert "tool:lookup" in text


async def _submit(settings: Settings, agent: str, payload: Contract) -> str:
    registry = SchemaRegistry(settings.registry_url)
    try:
        task = await submit_task(settings, governed.mesh, agent, payload, registry)
    finally:
        await registry.close()
    return str(task.task_id)
