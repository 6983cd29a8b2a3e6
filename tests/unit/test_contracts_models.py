"""Models and their Avro schemas: one source of truth, no drift, no registry needed."""

import io
from decimal import Decimal

import fastavro
import pytest

from agentmesh.contracts import (
    CATALOG,
    AgentEvent,
    AvroMappingError,
    Budget,
    Contract,
    Handoff,
    LlmCall,
    PayloadValidationError,
    StepFinished,
    StepStarted,
    TaskSubmitted,
    avro_schema,
    drift,
    to_datum,
    validate_payload,
)


class PlannerInput(Contract):
    question: str
    max_subquestions: int = 3


def roundtrip(model: type[Contract], message: Contract) -> Contract:
    parsed = fastavro.parse_schema(avro_schema(model))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, to_datum(message))
    buf.seek(0)
    return model.model_validate(fastavro.schemaless_reader(buf, parsed, None))


def test_checked_in_schemas_match_the_models() -> None:
    assert drift(spec.lineage for spec in CATALOG) == []


def test_every_core_schema_is_valid_avro() -> None:
    for spec in CATALOG:
        fastavro.parse_schema(avro_schema(spec.model))


@pytest.mark.parametrize(
    "body",
    [
        StepStarted(handoff_id="h", input_topic="t", input_partition=0, input_offset=7),
        StepFinished(handoff_id="h", outcome="result", duration_ms=1.0),
        LlmCall(
            call_id="c",
            provider="openai",
            model="gpt",
            input_tokens=10,
            output_tokens=5,
            cost_usd=Decimal("0.00000125"),
            latency_ms=3.0,
        ),
    ],
)
def test_event_union_branches_survive_avro(body: StepStarted | StepFinished | LlmCall) -> None:
    event = AgentEvent(task_id="t", agent="a", instance="i", seq=1, body=body)
    assert roundtrip(AgentEvent, event) == event


def test_handoff_payload_is_the_receivers_model() -> None:
    schema = avro_schema(Handoff[PlannerInput])
    payload_field = next(f for f in schema["fields"] if f["name"] == "payload")
    assert payload_field["type"]["name"] == "PlannerInput"
    handoff = Handoff[PlannerInput](
        task_id="t", from_agent="gateway", to_agent="planner", payload=PlannerInput(question="q")
    )
    assert roundtrip(Handoff[PlannerInput], handoff) == handoff


def test_money_is_exact_decimal_not_float() -> None:
    budget = Budget(max_cost_usd=Decimal("1.23456789012"))
    assert budget.max_cost_usd == Decimal("1.2345678901")
    task = TaskSubmitted(entry_agent="planner", input_json="{}", budget=budget)
    assert roundtrip(TaskSubmitted, task) == task


def test_wrong_payload_is_refused_naming_the_field() -> None:
    with pytest.raises(PayloadValidationError) as err:
        validate_payload(PlannerInput, {"question": "q", "max_subquestions": "many"})
    assert err.value.fields == ["max_subquestions"]
    assert "field 'max_subquestions'" in str(err.value)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(PayloadValidationError, match="field 'questoin'"):
        validate_payload(PlannerInput, {"question": "q", "questoin": "typo"})


def test_unmappable_types_are_named() -> None:
    class Bad(Contract):
        when: complex

    with pytest.raises(AvroMappingError, match=r"Bad\.when: no Avro mapping"):
        avro_schema(Bad)
