"""The codec against the real schema registry (and a real topic for the stock-tool check)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from agentmesh.contracts import (
    AgentEvent,
    Codec,
    Contract,
    Handoff,
    IncompatibleSchemaError,
    MalformedPayloadError,
    RegistryUnavailableError,
    SchemaRegistrationError,
    SchemaRegistry,
    StepFinished,
    Topics,
    TruncatedMessageError,
    UnknownMagicByteError,
    UnknownSchemaIdError,
    frame_header,
)
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, TopicSpec, ensure_topics, make_producer
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.kafka


class QuestionV1(Contract):
    avro_name = "Question"
    question: str


class QuestionV2(Contract):
    avro_name = "Question"
    question: str
    depth: int = 1
    note: str | None = None


class QuestionBroken(Contract):
    avro_name = "Question"
    question: int


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[SchemaRegistry]:
    reg = SchemaRegistry(settings.registry_url)
    yield reg
    await reg.close()


def event() -> AgentEvent:
    body = StepFinished(handoff_id="h1", outcome="result", duration_ms=12.5)
    return AgentEvent(task_id="task-1", agent="planner", instance="p-1", seq=3, body=body)


async def test_register_is_idempotent_and_pins_backward_transitive(
    registry: SchemaRegistry, settings: Settings, namespace: str
) -> None:
    codec = Codec(AgentEvent, Topics.subject(Topics(namespace).events), registry)
    first = await codec.register()
    again = await Codec(AgentEvent, codec.subject, registry).register()
    assert first == again
    async with httpx.AsyncClient() as http:
        config = (await http.get(f"{settings.registry_url}/config/{codec.subject}")).json()
    assert config["compatibilityLevel"] == "BACKWARD_TRANSITIVE"
    message = event()
    assert await codec.decode(codec.encode(message)) == message


async def test_stock_confluent_deserializer_reads_agentmesh_messages(
    registry: SchemaRegistry, settings: Settings, conn: KafkaConnection, namespace: str
) -> None:
    topic = Topics(namespace).events
    await ensure_topics(conn, [TopicSpec(topic, partitions=1)])
    codec = Codec(AgentEvent, Topics.subject(topic), registry)
    await codec.register()
    message = event()
    producer = make_producer(conn)
    await producer.start()
    try:
        await producer.send_and_wait(topic, codec.encode(message), key=b"task-1")
    finally:
        await producer.stop()
    (raw,) = await read_all(conn, topic, 1)

    # No agentmesh code from here on: what any Kafka tool with a registry client would do.
    stock = AvroDeserializer(SchemaRegistryClient({"url": settings.registry_url}))
    decoded = stock(raw, SerializationContext(topic, MessageField.VALUE))
    assert decoded == {
        "event_id": message.event_id,
        "task_id": "task-1",
        "agent": "planner",
        "instance": "p-1",
        "seq": 3,
        "at": message.at,
        "tenant": "default",
        "step": 0,
        "trace_id": None,
        "body": {
            "kind": "step_finished",
            "handoff_id": "h1",
            "outcome": "result",
            "duration_ms": 12.5,
            "input_topic": None,
            "input_partition": None,
            "input_offset": None,
            "attempts": None,
            "handoffs": [],
        },
    }


async def test_old_reader_reads_new_data_and_new_reader_reads_old(
    registry: SchemaRegistry, namespace: str
) -> None:
    subject = f"{namespace}.agent.q-value"
    v1, v2 = Codec(QuestionV1, subject, registry), Codec(QuestionV2, subject, registry)
    await v1.register()
    await v2.register()
    assert await v2.decode(v1.encode(QuestionV1(question="why"))) == QuestionV2(question="why")
    new = QuestionV2(question="how", depth=4, note="n")
    assert await v1.decode(v2.encode(new)) == QuestionV1(question="how")


async def test_incompatible_schema_is_refused_by_the_registry(
    registry: SchemaRegistry, namespace: str
) -> None:
    subject = f"{namespace}.agent.q-value"
    await Codec(QuestionV1, subject, registry).register()
    with pytest.raises(SchemaRegistrationError, match="agentmesh contracts check"):
        await Codec(QuestionBroken, subject, registry).register()


async def test_bad_bytes_each_raise_their_own_error(
    registry: SchemaRegistry, namespace: str
) -> None:
    codec = Codec(Handoff[QuestionV1], f"{namespace}.agent.q-value", registry)
    await codec.register()
    good = codec.encode(
        Handoff[QuestionV1](
            task_id="t", from_agent="a", to_agent="q", payload=QuestionV1(question="x")
        )
    )
    cases: list[tuple[bytes, type[Exception], str]] = [
        (b"", TruncatedMessageError, "shorter than the 5-byte"),
        (b'{"json": true}', UnknownMagicByteError, "0x7b"),
        (frame_header(987_654) + good[5:], UnknownSchemaIdError, "schema id 987654"),
        (good[:-3], TruncatedMessageError, "ends early"),
        (good + b"\x00\x01", MalformedPayloadError, "2 bytes left over"),
        (good[:5] + b"\xff" * 40, MalformedPayloadError, "not valid for schema id"),
    ]
    for data, error, words in cases:
        with pytest.raises(error, match=words):
            await codec.decode(data)


async def test_writer_schema_that_cannot_resolve_is_incompatible(
    registry: SchemaRegistry, namespace: str
) -> None:
    writer = Codec(QuestionBroken, f"{namespace}.other-value", registry)
    await writer.register()
    reader = Codec(QuestionV1, f"{namespace}.mine-value", registry)
    await reader.register()
    with pytest.raises(IncompatibleSchemaError):
        await reader.decode(writer.encode(QuestionBroken(question=5)))


async def test_registry_down_is_not_a_decode_error() -> None:
    down = SchemaRegistry("http://127.0.0.1:9/apis/ccompat/v7", timeout_s=1)
    codec = Codec(QuestionV1, "x-value", down)
    try:
        with pytest.raises(RegistryUnavailableError, match="agentmesh infra up"):
            await codec.decode(frame_header(1) + b"\x02x")
        with pytest.raises(RegistryUnavailableError):
            await codec.register()
    finally:
        await down.close()
