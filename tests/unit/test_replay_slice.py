"""What a topic slice copies, and how its start offsets are written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agentmesh.cli._app import app
from agentmesh.core.replay import SliceError, parse_offsets
from agentmesh.core.replay._slice import _copied


def test_offsets_name_topics_without_their_namespace() -> None:
    assert parse_offsets("events:0=120, agent.writer:2=15") == {
        ("events", 0): 120,
        ("agent.writer", 2): 15,
    }
    assert parse_offsets("") == {}
    with pytest.raises(SliceError, match="TOPIC:PARTITION=OFFSET"):
        parse_offsets("events=120")


def test_a_slice_copies_the_mesh_records_not_agents_private_memory_or_control() -> None:
    copied = [
        t
        for t in (
            "ns.tasks",
            "ns.events",
            "ns.agent.writer",
            "ns.agent.writer.journal",
            "ns.agent.writer.state",
            "ns.agent.writer.done",
            "ns.control",
            "ns.review.requests",
            "ns.dlq",
            "ns.claims",
            "ns.supervisor-ledgers-changelog",
            "other.events",
            "ns2.events",
        )
        if _copied(t, "ns")
    ]
    assert copied == [
        "ns.tasks",
        "ns.events",
        "ns.agent.writer",
        "ns.review.requests",
        "ns.dlq",
        "ns.claims",
    ]


def test_the_cli_says_what_is_wrong_with_a_start_offset() -> None:
    result = CliRunner().invoke(app, ["replay", "topic", "--into", "x", "--from", "oops"])
    assert result.exit_code == 2
    assert "TOPIC:PARTITION=OFFSET" in result.output
