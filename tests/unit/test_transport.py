"""The broker seam pins the settings agentmesh's guarantees rest on."""

import ast
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner

from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    KeyPartitioner,
    ProducerOptions,
    consumer_kwargs,
    make_consumer,
    make_producer,
    partition_for,
    producer_kwargs,
)

CONN = KafkaConnection(bootstrap="127.0.0.1:1", client_id="t")
ROOT = Path(__file__).resolve().parents[2]
# Every part's source root, and the sample mesh: user code goes through the seam as well.
SOURCES = [*sorted(ROOT.glob("*/src")), ROOT / "agents" / "examples" / "src"]
SEAM = ROOT / "core" / "src" / "agentmesh" / "core" / "transport"


def test_producer_is_idempotent_with_acks_all() -> None:
    kwargs = producer_kwargs(CONN, ProducerOptions(transactional_id="tx-1"))
    assert (kwargs["acks"], kwargs["enable_idempotence"], kwargs["transactional_id"]) == (
        "all",
        True,
        "tx-1",
    )


def test_consumer_never_autocommits_and_reads_committed() -> None:
    kwargs = consumer_kwargs(CONN, ConsumerOptions(group_id="g"))
    assert (kwargs["enable_auto_commit"], kwargs["isolation_level"], kwargs["group_id"]) == (
        False,
        "read_committed",
        "g",
    )


async def test_built_clients_carry_the_safe_settings() -> None:
    producer = make_producer(CONN)
    consumer = make_consumer(CONN, "topic", options=ConsumerOptions(group_id="g"))
    try:
        # aiokafka keeps these privately; reading them proves the kwargs reached the client.
        assert (producer._sender._acks, producer._txn_manager is not None) == (-1, True)
        assert (consumer._enable_auto_commit, consumer._isolation_level) == (
            False,
            "read_committed",
        )
    finally:
        await producer.stop()
        await consumer.stop()


def test_sasl_ssl_connection_passes_credentials() -> None:
    conn = KafkaConnection(
        bootstrap="b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password="p",
    )
    kwargs = conn.client_kwargs("x")
    assert (
        kwargs["client_id"],
        kwargs["sasl_mechanism"],
        kwargs["sasl_plain_username"],
        kwargs["sasl_plain_password"],
    ) == ("agentmesh-x", "SCRAM-SHA-512", "u", "p")
    assert kwargs["ssl_context"] is not None


def test_no_code_outside_the_seam_constructs_aiokafka_clients() -> None:
    forbidden = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
    offenders = []
    assert len(SOURCES) == 7
    for source in SOURCES:
        for path in source.rglob("*.py"):
            if path.is_relative_to(SEAM):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and _called_name(node.func) in forbidden:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def _called_name(func: ast.expr) -> str | None:
    # `AIOKafkaProducer(...)` and `aiokafka.AIOKafkaProducer(...)` alike.
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


# Kafka's own vectors (UtilsTest.testMurmur2 in the Java client), as signed 32-bit ints.
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


def test_keyed_records_go_where_the_java_client_would_put_them() -> None:
    partitioner = KeyPartitioner()
    for key, signed in JAVA_MURMUR2.items():
        for count in (1, 3, 6, 64):
            expected = (signed & 0x7FFFFFFF) % count  # Java: toPositive(murmur2(key)) % count
            assert partition_for(key.encode(), count) == expected
            assert partitioner(key.encode(), list(range(count)), []) == expected
    for i in range(500):  # and where aiokafka's own default would, remembered or not
        raw = f"task-{i}".encode()
        parts = list(range(1 + i % 12))
        assert partitioner(raw, parts, parts) == DefaultPartitioner()(raw, parts, parts)
        assert partitioner(raw, parts, parts) == DefaultPartitioner()(raw, parts, parts)


def test_a_record_without_key_goes_to_an_available_partition() -> None:
    picked = {KeyPartitioner()(None, [0, 1, 2, 3], [2, 3]) for _ in range(200)}
    assert picked == {2, 3}
    assert KeyPartitioner()(None, [0, 1], []) in (0, 1)


def test_every_producer_uses_the_key_partitioner() -> None:
    kwargs = producer_kwargs(CONN, ProducerOptions())
    assert isinstance(kwargs["partitioner"], KeyPartitioner)
