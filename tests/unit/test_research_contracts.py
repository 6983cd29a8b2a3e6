"""The research mesh's payload models: Avro-mappable, checked in, and the tagged writer input."""

import fastavro
import pytest
from pydantic import ValidationError

import agentmesh_examples.research
from agentmesh.agents import load_mesh
from agentmesh.contracts import avro_schema, drift
from agentmesh_examples.research import (
    Draft,
    Finding,
    Report,
    ResearchQuestion,
    SubQuestion,
    WriterInput,
    mesh,
)


def _finding(index: int = 0, of: int = 1) -> Finding:
    return Finding(index=index, of=of, question="q", sub_question="s", summary="x")


def test_public_api() -> None:
    assert sorted(agentmesh_examples.research.__all__) == sorted(
        [
            "DEFAULT_QUESTION",
            "DEMO_INPUT",
            "DEMO_POLICY",
            "PROMPTS",
            "Draft",
            "Finding",
            "Prompt",
            "Report",
            "ResearchQuestion",
            "SearchArgs",
            "SearchHit",
            "SearchResult",
            "SubQuestion",
            "WriterInput",
            "demo_model",
            "mesh",
            "planner",
            "researcher",
            "reviewer",
            "search",
            "writer",
        ]
    )


def test_the_mesh_loads_by_spec_with_each_agents_input_and_output() -> None:
    loaded = load_mesh("agentmesh_examples.research:mesh")
    assert {n: (a.input, a.output) for n, a in loaded.agents.items()} == {
        "planner": (ResearchQuestion, None),
        "researcher": (SubQuestion, None),
        "writer": (WriterInput, None),
        "reviewer": (Draft, Report),
    }


@pytest.mark.parametrize("agent", ["planner", "researcher", "writer", "reviewer"])
def test_every_inbox_schema_is_valid_avro(agent: str) -> None:
    parsed = fastavro.parse_schema(avro_schema(mesh.inbox_model(agent)))
    assert isinstance(parsed, dict)
    assert parsed["name"] == "dev.agentmesh.Handoff"


def test_the_report_schema_is_valid_avro() -> None:
    parsed = fastavro.parse_schema(avro_schema(Report))
    assert isinstance(parsed, dict)
    assert parsed["name"] == "dev.agentmesh.research.Report"


def test_the_checked_in_schema_files_match_the_models() -> None:
    assert drift(mesh.payload_lineages()) == []


def test_writer_input_kinds_carry_their_own_fields() -> None:
    draft = Draft(question="q", text="t", findings=[_finding()])
    assert WriterInput.of_finding(_finding()) == WriterInput(kind="finding", finding=_finding())
    assert WriterInput.revise(draft, "shorter") == WriterInput(
        kind="revise", draft=draft, feedback="shorter"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "finding"},
        {"kind": "finding", "finding": _finding(), "feedback": "x"},
        {"kind": "revise", "feedback": "x"},
        {"kind": "revise", "draft": Draft(question="q", text="t", findings=[])},
        {"kind": "other", "finding": _finding()},
    ],
)
def test_writer_input_refuses_fields_that_do_not_match_its_kind(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WriterInput.model_validate(fields)


def test_a_part_index_must_be_below_its_count() -> None:
    with pytest.raises(ValidationError, match="index 3 is not below of=3"):
        _finding(index=3, of=3)
