"""Dead letters without a broker: naming them, judging them redrivable, and what a redrive
writes (its key, handoff id, lineage and edit checks)."""

from __future__ import annotations

from typing import Any

import pytest

from agentmesh.contracts import Codec, Contract, DeadLetter, Handoff, Header, Topics
from agentmesh.contracts.testing import InMemorySchemaRegistry
from agentmesh.core.views._dlq import (
    DeadLetterEntry,
    UnknownDeadLetter,
    find_dead_letter,
    original_handoff,
    why_not_redrivable,
)
from agentmesh.core.views._dlq_redrive import (
    RedriveRefused,
    _lineage,
    _redriven_value,
    redrive_key,
)

NS = "ns"
INBOX = Topics(NS).agent("fixer")


class Job(Contract):
    text: str


async def _handoff_bytes(registry: InMemorySchemaRegistry) -> bytes:
    codec = Codec(Handoff[Job], Topics.subject(INBOX), registry)
    await codec.register()
    envelope = Handoff[Job](
        task_id="t1",
        from_agent="test",
        to_agent="fixer",
        idempotency_key="original",
        payload=Job(text="poison"),
    )
    return codec.encode(envelope)


def _entry(value: bytes | None = b"x", **changes: Any) -> DeadLetterEntry:
    letter = DeadLetter(
        dead_letter_id="dl1",
        task_id="t1",
        agent="fixer",
        stage="handler",
        error_class="ValueError",
        error_message="poison pill",
        original_topic=INBOX,
        original_partition=0,
        original_offset=7,
        original_key=b"t1",
        original_value=value,
    ).model_copy(update=changes)
    return DeadLetterEntry(Topics(NS).dlq, 2, 41, letter)


def test_a_dead_letter_is_found_by_its_id_or_its_position() -> None:
    second = DeadLetterEntry(Topics(NS).dlq, 0, 3, _entry(dead_letter_id="dl2").letter)
    entries = [_entry(), second]
    assert [find_dead_letter(entries, i).id for i in ("dl1", "2:41", "dl2", "0:3")] == [
        "dl1",
        "dl1",
        "dl2",
        "dl2",
    ]
    with pytest.raises(UnknownDeadLetter, match="agentmesh dlq list"):
        find_dead_letter(entries, "2:42")


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({}, None),
        ({"original_topic": "ns.events"}, "not an agent's inbox"),
        ({"original_topic": "ns.agent.fixer.journal"}, "not an agent's inbox"),
        ({"original_value": None}, "too large to keep whole"),
        ({"error_message": "x (original value truncated from 9 bytes)"}, "too large"),
        ({"original_headers": [Header(key="agentmesh-claim", value=b"t")]}, "claim-checked"),
        (
            {"original_headers": [Header(key="agentmesh-redrive-count", value=b"3")]},
            "redriven 3 times already, the limit (3)",
        ),
    ],
)
def test_what_cannot_be_redriven_says_why(changes: dict[str, Any], why: str | None) -> None:
    found = why_not_redrivable(_entry(**changes), NS)
    if why is None:
        assert found is None
    else:
        assert found is not None
        assert why in found


def test_the_count_is_the_last_redrive_header() -> None:
    headers = [
        Header(key="agentmesh-redrive-count", value=b"1"),
        Header(key="agentmesh-redrive-count", value=b"2"),
    ]
    assert _entry(original_headers=headers).redrive_count == 2
    assert _entry().redrive_count == 0


async def test_a_redrive_has_a_key_and_id_of_its_own_shared_by_every_redrive_of_it() -> None:
    registry = InMemorySchemaRegistry()
    entry = _entry(await _handoff_bytes(registry))
    codec = Codec(Handoff[Job], Topics.subject(INBOX), registry)
    first, id1 = await _redriven_value(registry, entry, None)
    again, id2 = await _redriven_value(registry, entry, None)
    edited, _ = await _redriven_value(registry, entry, '{"text": "fixed"}')
    other, id3 = await _redriven_value(
        registry, _entry(entry.letter.original_value, dead_letter_id="dl9"), None
    )
    decoded = [await codec.decode(v) for v in (first, edited, other)]
    assert (first, id1) == (again, id2)
    assert [(d.idempotency_key, d.handoff_id, d.payload.text) for d in decoded] == [
        (redrive_key("dl1"), id1, "poison"),
        (redrive_key("dl1"), id1, "fixed"),
        (redrive_key("dl9"), id3, "poison"),
    ]
    assert id1 != id3
    assert (await original_handoff(registry, entry.letter) or {})["payload"] == {"text": "poison"}


async def test_an_edit_that_does_not_fit_the_schema_is_refused_naming_it() -> None:
    registry = InMemorySchemaRegistry()
    entry = _entry(await _handoff_bytes(registry))
    with pytest.raises(RedriveRefused, match="does not fit") as refused:
        await _redriven_value(registry, entry, '{"text": 5}')
    assert refused.value.field.startswith("payload")
    with pytest.raises(RedriveRefused, match="not JSON"):
        await _redriven_value(registry, entry, "{")
    with pytest.raises(RedriveRefused, match="not a handoff"):
        await _redriven_value(registry, _entry(b"\x00\x00\x00\x00\x09junk"), None)


def test_lineage_replaces_an_earlier_redrive_and_keeps_the_rest() -> None:
    headers = [
        Header(key="traceparent", value=b"00-abc-def-01"),
        Header(key="agentmesh-redrive-of", value=b"dl0"),
        Header(key="agentmesh-redrive-count", value=b"1"),
    ]
    entry = _entry(original_headers=headers)
    assert _lineage(entry, "ops", "why", 2) == [
        ("traceparent", b"00-abc-def-01"),
        ("agentmesh-redrive-of", b"dl1"),
        ("agentmesh-redrive-from", b"ns.dlq@2:41"),
        ("agentmesh-redrive-by", b"ops"),
        ("agentmesh-redrive-reason", b"why"),
        ("agentmesh-redrive-count", b"2"),
    ]
