"""A paid call whose ``llm_call`` event died with its agent (``kill -9`` after the journal
held the call, before the event was written) is counted once, from the event of the run
that answered it from the journal (``replayed=true``): by the supervisor's ledger and by
``agentmesh task show`` alike."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agentmesh.contracts import LlmCall
from agentmesh.core import Settings
from agentmesh.core.views import read_ledger
from tests.apps import pipeline
from tests.apps.pipeline import Plan
from tests.integration.test_cli_review_tail import cli_json
from tests.runtime_helpers import AgentProcess, events_of, inbox_of, send_handoffs, wait_for
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

APP = "tests.apps.journal_crash:mesh"


async def _calls(s: Settings, task_id: str) -> list[LlmCall]:
    events = await events_of(s, None, timeout=1)
    return [e.body for e in events if e.task_id == task_id and isinstance(e.body, LlmCall)]


async def test_a_call_whose_event_died_with_the_agent_is_counted_once(
    settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets:\n  default: {max_steps: 60}\n")
    s = settings.model_copy(update={"policy": policy})
    sup = SupervisorProcess(s, policy, tmp_path).start()
    try:
        await sup.wait_ready()
        slow = AgentProcess("planner", s, APP, tmp_path, JOURNAL_CRASH_DELAY_S="60").start()
        await slow.wait_consuming()
        await send_handoffs(s, pipeline.mesh, "planner", [Plan(question="q", parts=2)], ["t-j"])
        deadline = time.monotonic() + 60
        while "journaled, sleeping" not in slow.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, slow.log.read_text(errors="replace")
            await asyncio.sleep(0.1)
        slow.kill9()  # the call is paid for and journaled; its event was never written
        assert await _calls(s, "t-j") == []
        fast = AgentProcess("planner", s, APP, tmp_path).start()
        await fast.wait_consuming(timeout=90)
        await inbox_of(s, pipeline.mesh, "worker", 2, timeout=60)
        assert fast.terminate() == 0
        (call,) = await _calls(s, "t-j")
        tokens = call.input_tokens + call.output_tokens

        async def counted() -> bool:
            ledger = await read_ledger(s, "t-j")
            return ledger is not None and ledger.steps >= 1

        await wait_for(counted, timeout=30)
        ledger = await read_ledger(s, "t-j")
        shown = await cli_json(s, "task", "show", "t-j")
    finally:
        sup.terminate()
    assert call.replayed  # the only surviving event is the replay's
    assert tokens > 0
    assert ledger is not None
    assert (ledger.steps, ledger.tokens) == (1, tokens)
    assert (shown["llm_calls"], shown["budget"]) == (1, ledger.as_json())
