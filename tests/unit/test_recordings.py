"""Recordings without a broker: what a step records, redacted, once per call."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import orjson
import pytest

from agentmesh.agents._recorder import Recorder
from agentmesh.agents._records import RawRecord
from agentmesh.agents._redact import REDACTED, Redactor
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import Recording
from agentmesh.core.policy import Policy, PolicyError, load_policy
from tests.apps import recorded
from tests.apps.recorded import CARD, EMAIL, TICKET, redacting

R = REDACTED


def test_paths_blank_fields_and_patterns_replace_text_everywhere() -> None:
    redact = Redactor.of(["$.customer.card", "items.*.secret", "list.1"], [r"\d{3}-\d{4}"])
    data = {
        "customer": {"card": "4111", "name": "call 555-1234"},
        "items": [{"secret": 1, "keep": 2}, {"secret": {"deep": True}}],
        "list": ["a", "b", "c"],
        "card": "top-level card is another path",
    }
    assert redact.data(data) == {
        "customer": {"card": R, "name": f"call {R}"},
        "items": [{"secret": R, "keep": 2}, {"secret": R}],
        "list": ["a", R, "c"],
        "card": "top-level card is another path",
    }
    assert redact.count == 5


def test_a_value_a_path_blanked_is_blanked_in_later_text_of_the_step() -> None:
    step = Redactor.of(["card", "pin"], [])
    assert step.data({"card": "4111 1111", "pin": 7}) == {"card": R, "pin": R}
    call = step.child()
    # Too short a value (the pin) is not looked for: it would blank unrelated text.
    assert call.text("charge 4111 1111 now, pin 7") == f"charge {R} now, pin 7"
    assert (step.count, call.count) == (2, 1)


def test_a_path_that_goes_nowhere_changes_nothing() -> None:
    redact = Redactor.of(["a.b.c", "x"], [])
    assert redact.data({"a": {"b": "text"}, "y": [1]}) == {"a": {"b": "text"}, "y": [1]}
    assert redact.count == 0


def test_the_policy_refuses_a_pattern_that_is_not_a_regex(tmp_path: Any) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("recording: {mode: full, redact: {patterns: ['(unclosed']}}\n")
    with pytest.raises(PolicyError, match="is not a regex"):
        load_policy(path)
    assert Policy().recording.mode == "full"
    assert Policy().recording.retention_days == 7.0


async def _step(
    policy: Policy,
    *,
    commit: bool = True,
    harness: AgentHarness | None = None,
    agent: str = "intake",
) -> tuple[AgentHarness, list[Recording]]:
    harness = harness or AgentHarness(recorded.mesh, agent, policy=policy)
    recorder = Recorder(policy.recording, harness.topics)
    await recorder.register(harness.codecs.registry)
    harness.env = dataclasses.replace(harness.env, recorder=recorder)
    await harness.codecs.register()
    envelope = recorded.mesh.inbox_model(agent)(
        task_id="t-1",
        handoff_id="h-1",
        idempotency_key="h-1",
        from_agent="test",
        to_agent=agent,
        payload=TICKET,
    )
    value = harness.codecs.inbox.encode(envelope)
    record = RawRecord(harness.topics.agent(agent), 0, 0, b"t-1", value)
    emissions = await harness.processor.process(record)
    if commit:
        harness.processor.committed(0)
    else:
        harness.processor.rolled_back(0)
    found = [e for e in emissions if e.topic == harness.topics.recordings]
    assert all(e.key == b"t-1" and not e.claim for e in found)
    return harness, [await recorder.codec.decode(e.value or b"") for e in found]  # type: ignore[union-attr]


def _plain(rec: Recording) -> dict[str, Any]:
    data = rec.model_dump(exclude={"recorded_at", "latency_ms"})
    for key in ("request_json", "response_json", "handoffs_json", "result_json"):
        data[key] = None if data[key] is None else orjson.loads(data[key])
    return data


def _common(rec_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "recording_id": rec_id,
        "task_id": "t-1",
        "agent": "intake",
        "handoff_id": "h-1",
        "hop": 0,
        "kind": kind,
        "mode": "full",
        "call_id": None,
        "seq": None,
        "target": None,
        "model": None,
        "prompt_name": None,
        "prompt_version": None,
        "status": "ok",
        "error": None,
        "replayed": False,
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "request_json": None,
        "response_json": None,
        "redacted": 0,
        "outcome": None,
        "handoffs_json": None,
        "result_json": None,
    }
    return {**base, **fields}


def _expected(replayed: bool = False) -> list[dict[str, Any]]:
    handoff: dict[str, Any] = {
        "task_id": "t-1",
        "handoff_id": "h-1",
        "parent_id": None,
        "from_agent": "test",
        "to_agent": "intake",
        "hop": 0,
        "created_at": "<when>",
        "tenant": "default",
        "budget": dict.fromkeys(
            ("max_tokens", "max_cost_usd", "max_steps", "max_hops", "deadline")
        ),
        "context": [],
        "idempotency_key": "h-1",
        "payload": {"customer": {"email": R, "card": R}, "text": "my card was charged twice"},
    }
    usage = {
        "provider": "scripted",
        "model": "scripted",
        "input_tokens": 11,
        "output_tokens": 2,
        "cost_usd": "0.000013",
    }
    prompt = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"Help {R} (Bob) with: my card was charged twice"},
    ]
    parameters = dict.fromkeys(("model", "temperature", "max_tokens", "max_total_tokens"))
    return [
        _common(
            "h-1:input",
            "step_input",
            request_json=handoff,
            redacted=2,
            # How the step ended, kept with its input for replay to compare against.
            outcome="result",
            handoffs_json=[],
            result_json={"text": "Sure, done."},
        ),
        _common(
            "h-1:0",
            "tool_call",
            call_id="h-1:0",
            seq=0,
            target="lookup",
            replayed=replayed,
            request_json={"arguments": {"card": R}},
            response_json={"result": {"account": R, "owner": "Bob"}},
            redacted=2,
        ),
        _common(
            "h-1:1",
            "llm_call",
            call_id="h-1:1",
            seq=1,
            target="scripted",
            model="scripted",
            prompt_name="help",
            prompt_version="v2",
            replayed=replayed,
            input_tokens=11,
            output_tokens=2,
            cost_usd=Decimal("0.000013"),
            request_json={
                "messages": prompt,
                "tools": [],
                "output_schema": None,
                "parameters": parameters,
            },
            response_json={
                "text": "Sure, done.",
                "tool_calls": [],
                "structured": None,
                "usage": usage,
                "extra": {},
            },
            redacted=1,
        ),
    ]


def _comparable(recordings: list[Recording]) -> list[dict[str, Any]]:
    found = [_plain(r) for r in recordings]
    for data in found:
        if data["kind"] == "step_input" and data["request_json"] is not None:
            data["request_json"]["created_at"] = "<when>"
    return found


async def test_a_step_records_its_input_and_each_call_in_full_with_redaction() -> None:
    _, recordings = await _step(redacting())
    assert _expected() == _comparable(recordings)
    raw = orjson.dumps([r.model_dump(mode="json") for r in recordings])
    assert CARD.encode() not in raw
    assert EMAIL.encode() not in raw


async def test_metadata_mode_records_who_and_what_without_bodies() -> None:
    _, recordings = await _step(redacting("metadata"))
    expected = [
        {
            **e,
            "mode": "metadata",
            "request_json": None,
            "response_json": None,
            "result_json": None,
            "redacted": 0,
        }
        for e in _expected()
    ]
    assert expected == _comparable(recordings)


async def test_a_step_redone_after_a_crash_records_its_calls_under_the_same_ids() -> None:
    harness, first = await _step(redacting(), commit=False)
    _, again = await _step(redacting(), harness=harness)
    # The aborted run's recordings were never visible; the redone run answers both calls
    # from the journal and records them once, with the same ids.
    assert [r.recording_id for r in first] == [r.recording_id for r in again]
    assert _expected(replayed=True) == _comparable(again)


async def test_a_failed_call_is_recorded_with_its_redacted_error_when_the_step_dead_letters() -> (
    None
):
    _, recordings = await _step(redacting(), agent="charger")
    assert [(r.kind, r.status) for r in recordings] == [
        ("step_input", "ok"),
        ("tool_call", "error"),
    ]
    failed = recordings[1]
    assert (failed.request_json, failed.response_json, failed.error) == (
        '{"arguments":{"card":"[redacted]"}}',
        None,
        f"ValueError: card {R} declined for {R}",  # the card by its value, the e-mail by pattern
    )
    step = recordings[0]
    assert (step.outcome, step.handoffs_json, step.result_json, step.error) == (
        "dead_lettered",
        "[]",
        None,
        f"ValueError: card {R} declined for {R}",
    )


async def test_a_step_records_the_handoffs_it_emitted_with_hashes_and_redacted_payloads() -> None:
    from agentmesh.agents._step_records import payload_hash
    from tests.apps import pipeline

    policy = Policy.model_validate({"recording": {"redact": {"paths": ["text"]}}})
    harness = AgentHarness(pipeline.mesh, "planner", policy=policy)
    recorder = Recorder(policy.recording, harness.topics)
    await recorder.register(harness.codecs.registry)
    harness.env = dataclasses.replace(harness.env, recorder=recorder)
    run = await harness.run(pipeline.Plan(question="why", parts=2))

    step = next(r for r in run.recordings if r.kind == "step_input")
    assert step.outcome == "handoff"
    assert step.result_json is None
    assert orjson.loads(step.handoffs_json or "") == [
        {
            "handoff_id": h.handoff_id,
            "to_agent": "worker",
            "payload_hash": payload_hash(h),  # of the payload as sent, not as recorded
            "payload": {"part": i, "text": R},
        }
        for i, h in enumerate(run.handoffs)
    ]
