"""Prompt versions: current by default, an earlier one by configuration, recorded on events."""

import hashlib
from importlib import resources

import pytest

from agentmesh.agents._prompts import PromptSet, parse_pins
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import LlmCall
from agentmesh_examples.research import ResearchQuestion, mesh

PKG = "agentmesh_examples.research"


def version_of(path: str) -> str:
    data = resources.files(PKG).joinpath(path).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def test_current_version_unless_pinned() -> None:
    current, kept = version_of("prompts/writer.txt"), version_of("prompts/writer/v1.txt")
    assert current != kept
    assert [(p.label, p.version) for p in PromptSet(PKG, pins={}).versions("writer")] == [
        ("current", current),
        ("v1", kept),
    ]
    assert PromptSet(PKG, pins={}).get("writer").version == current
    assert PromptSet(PKG, pins={"writer": "v1"}).get("writer").version == kept
    assert PromptSet(PKG, pins={"writer": kept[:8]}).get("writer").label == "v1"


def test_unknown_pin_names_the_known_versions() -> None:
    with pytest.raises(LookupError, match=r"no version 'v9' of prompt 'writer'; known: current \("):
        PromptSet(PKG, pins={"writer": "v9"}).get("writer")


def test_pins_are_parsed_and_bad_ones_refused() -> None:
    assert parse_pins("writer=v1, planner=3f2a9c") == {"writer": "v1", "planner": "3f2a9c"}
    assert parse_pins(None) == {}
    with pytest.raises(ValueError, match="must look like name=version"):
        parse_pins("writer")


async def test_every_llm_call_records_the_prompt_version_in_force() -> None:
    run = await AgentHarness(mesh, "planner").run(ResearchQuestion(question="What is Kafka?"))
    assert [(u.prompt_name, u.prompt_version) for u in run.usage if isinstance(u, LlmCall)] == [
        ("planner", version_of("prompts/planner.txt"))
    ]
