"""F8: a failure after the handler ran that the data causes dead-letters the input; the
partition moves on. Outages are retried and never dead-letter anything.

The worker's batch loop runs here against a fake transactional producer and consumer; the
step code, policies and Avro codecs are the real ones (in-memory registry, as AgentHarness).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)

from agentmesh.agents import Context, Mesh, Outgoing, agent
from agentmesh.agents._poison import PoisonGuard
from agentmesh.agents._processor import RecordProcessor
from agentmesh.agents._records import RawRecord
from agentmesh.agents._step_records import dead_letter_of, fit_dead_letter
from agentmesh.agents._worker import AgentWorker, WorkerOptions
from agentmesh.agents.testing import AgentHarness
from agentmesh.contracts import (
    AgentEvent,
    Contract,
    DeadLetter,
    RegistryUnavailableError,
    StepFinished,
    TaskCompleted,
    TaskFailed,
    validate_payload,
)
from agentmesh.core import Settings

MIB = 1024 * 1024


class Item(Contract):
    n: int
    fill: int = 0  # bytes of task state the step writes
    out: int = 0  # size of the result's text
    hand: int = 0  # a number to hand to "sink"
    overflow: bool = False  # hand "sink" a number beyond Avro's long


class Done(Contract):
    n: int
    text: str = ""


@agent("keeper", output=Done)
async def keeper(item: Item, ctx: Context) -> Done | Outgoing:
    if item.fill:
        ctx.state.set({"blob": "x" * item.fill})
    if item.hand or item.overflow:
        return ctx.handoff("sink", Item(n=2**70 if item.overflow else item.hand))
    return Done(n=item.n, text="y" * item.out)


@agent("sink")
async def sink(item: Item, ctx: Context) -> None:
    return None


mesh = Mesh([keeper, sink])

Refusal = Callable[[str, bytes | None, bytes | None], BaseException | None]


def never(_topic: str, _key: bytes | None, _value: bytes | None) -> BaseException | None:
    return None


@dataclass
class FakeProducer:
    """A transactional producer: what commits is kept, what aborts is dropped.

    ``refuse(topic, key, value)`` names the error a send gets; ``at_broker`` makes it fail
    the send's future (as the broker refusing it does) instead of ``send`` itself (as
    aiokafka's own size check does).
    """

    refuse: Refusal = never
    at_broker: bool = False
    committed: list[tuple[str, bytes | None, bytes | None]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    aborts: int = 0
    stopped: bool = False
    _open: list[tuple[str, bytes | None, bytes | None]] = field(default_factory=list)
    _open_offsets: list[int] = field(default_factory=list)

    async def begin_transaction(self) -> None:
        self._open = []
        self._open_offsets = []

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Any = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        error = self.refuse(topic, key, value)
        if error is not None and not self.at_broker:
            raise error
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(None)
        self._open.append((topic, key, value))
        return future

    async def send_offsets_to_transaction(
        self, offsets: dict[TopicPartition, int], _group: str
    ) -> None:
        # Like Kafka: offsets sent to a transaction count only if it commits.
        self._open_offsets.extend(offsets.values())

    async def commit_transaction(self) -> None:
        self.committed.extend(self._open)
        self.offsets.extend(self._open_offsets)

    async def abort_transaction(self) -> None:
        self.aborts += 1
        self._open = []
        self._open_offsets = []

    async def stop(self) -> None:
        self.stopped = True


class FakeConsumer:
    def __init__(self, tp: TopicPartition) -> None:
        self.tp = tp
        self.position = 0
        self.paused: set[TopicPartition] = set()

    def seek(self, _tp: TopicPartition, offset: int) -> None:
        self.position = offset

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}


class Rig:
    """One keeper worker on partition 0, its inputs, and everything its producers committed."""

    def __init__(self, refuse: Refusal = never, *, at_broker: bool = False) -> None:
        self.harness = AgentHarness(mesh, "keeper")
        self.codecs = self.harness.codecs
        self.topics = self.harness.topics
        self.tp = TopicPartition(self.topics.agent("keeper"), 0)
        options = WorkerOptions(retry_backoff_s=0.0, adopt_retry_s=0.0, partitions=1)
        self.worker = AgentWorker(mesh, "keeper", Settings(namespace="harness"), options=options)
        self.consumer = FakeConsumer(self.tp)
        self.producers: list[FakeProducer] = []
        self.refuse, self.at_broker = refuse, at_broker
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        w = self.worker
        w.codecs = self.codecs
        w.processor = RecordProcessor(lambda _p: self.harness.env, self.codecs, "unit")
        w.poison = PoisonGuard(w.processor, max_failures=3, retry_backoff_s=0.0)
        w._consumer = self.consumer
        w._side = FakeProducer()  # journals go nowhere here
        w.owner = w._owner(self.consumer)
        w.owner.adopt = self._adopt  # type: ignore[method-assign]
        self._install()

    def _install(self) -> None:
        producer = FakeProducer(self.refuse, self.at_broker)
        self.producers.append(producer)
        self.worker.owner.producers[0] = producer

    async def _adopt(self, tp: TopicPartition) -> None:
        # What adopt() does that matters here: a new producer, back to the committed offset.
        self._install()
        self.consumer.seek(tp, self.committed_offset)
        self.consumer.resume(tp)

    @property
    def committed_offset(self) -> int:
        offsets = [o for p in self.producers for o in p.offsets]
        return max(offsets, default=0)

    async def feed(self, *items: Item) -> None:
        await self.codecs.register()
        for item in items:
            envelope = mesh.inbox_model("keeper")(
                task_id=f"t{item.n}",
                from_agent="test",
                to_agent="keeper",
                payload=validate_payload(Item, item),
            )
            offset = len(self.records)
            self.records.append(
                ConsumerRecord(
                    self.tp.topic,
                    0,
                    offset,
                    0,
                    0,
                    envelope.task_id.encode(),
                    self.codecs.inbox.encode(envelope),
                    None,
                    0,
                    0,
                    [],
                )
            )

    async def pump(self, rounds: int = 30) -> int:
        """Deliver batches from the consumer's position, as the poll loop would, until all
        inputs are committed; returns how many batches it took."""
        for i in range(rounds):
            if self.committed_offset >= len(self.records):
                return i
            if 0 not in self.worker.owner.producers or self.tp in self.consumer.paused:
                await asyncio.sleep(0.01)  # being taken again
                continue
            batch = [r for r in self.records if r.offset >= self.consumer.position]
            self.consumer.position = batch[-1].offset + 1
            await self.worker._process(self.tp, batch)
        raise AssertionError(f"inputs still not committed after {rounds} batches")

    @property
    def committed(self) -> list[tuple[str, bytes | None, bytes | None]]:
        return [c for p in self.producers for c in p.committed]

    async def dead_letters(self) -> list[DeadLetter]:
        return [
            await self.codecs.dlq.decode(v)
            for t, _, v in self.committed
            if t == self.topics.dlq and v is not None
        ]

    async def events(self) -> list[AgentEvent]:
        return [
            await self.codecs.events.decode(v)
            for t, _, v in self.committed
            if t == self.topics.events and v is not None
        ]

    async def outcome(self) -> dict[str, list[str]]:
        """Per task, the kinds of its committed events, in order."""
        out: dict[str, list[str]] = {}
        for e in await self.events():
            kind: str = e.body.kind
            if isinstance(e.body, StepFinished):
                kind = f"{kind}:{e.body.outcome}"
            out.setdefault(e.task_id, []).append(kind)
        return out


def too_large(_topic: str, key: bytes | None, value: bytes | None) -> BaseException | None:
    """As aiokafka (in send) or the broker (on the future) refuse a record over 1 MiB."""
    refused: BaseException = MessageSizeTooLargeError()
    return refused if len(value or b"") + len(key or b"") > MIB else None


@pytest.mark.parametrize("at_broker", [False, True], ids=["in-send", "at-broker"])
async def test_a_record_over_the_message_limit_dead_letters_its_input_and_moves_on(
    at_broker: bool,
) -> None:
    rig = Rig(too_large, at_broker=at_broker)
    await rig.feed(Item(n=1, fill=10), Item(n=2, fill=MIB + 1000), Item(n=3, fill=10))
    await rig.pump()

    (letter,) = await rig.dead_letters()
    assert (letter.stage, letter.error_class, letter.attempts) == (
        "oversize",
        "MessageSizeTooLargeError",
        1,
    )
    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        rig.tp.topic,
        0,
        1,
    )
    assert (letter.task_id, letter.agent) == ("t2", "keeper")
    assert letter.original_value == rig.records[1].value  # the input, byte for byte
    assert await rig.outcome() == {
        "t1": ["task_completed", "step_finished:result"],
        "t2": ["step_finished:dead_lettered", "task_failed"],
        "t3": ["task_completed", "step_finished:result"],
    }
    # Nothing of the failed step's state was written; each input committed once.
    assert [k for t, k, _ in rig.committed if t.endswith(".state")] == [b"t1", b"t3"]
    assert rig.committed_offset == 3


def refuse_state_of_t2(error: BaseException) -> Refusal:
    def refuse(topic: str, key: bytes | None, _value: bytes | None) -> BaseException | None:
        return error if topic.endswith(".state") and key == b"t2" else None

    return refuse


@pytest.mark.parametrize("at_broker", [False, True], ids=["in-send", "at-broker"])
async def test_an_unexplained_error_repeating_on_one_offset_dead_letters_it_after_three(
    at_broker: bool,
) -> None:
    rig = Rig(refuse_state_of_t2(RuntimeError("serializer bug")), at_broker=at_broker)
    await rig.feed(Item(n=1, fill=10), Item(n=2, fill=10), Item(n=3, fill=10))
    await rig.pump()

    (letter,) = await rig.dead_letters()
    assert (letter.stage, letter.error_class, letter.error_message, letter.attempts) == (
        "handler",
        "RuntimeError",
        "serializer bug",
        3,
    )
    assert letter.original_offset == 1
    outcome = await rig.outcome()
    assert outcome["t2"] == ["step_finished:dead_lettered", "task_failed"]
    assert outcome["t1"] == outcome["t3"] == ["task_completed", "step_finished:result"]


@pytest.mark.parametrize(
    "error",
    [
        KafkaConnectionError(),
        NotLeaderForPartitionError(),
        RequestTimedOutError(),
        KafkaTimeoutError(),
        RegistryUnavailableError("schema registry did not answer"),
    ],
    ids=type,
)
async def test_an_outage_is_retried_as_long_as_it_lasts_and_never_dead_letters(
    error: BaseException,
) -> None:
    failures = {"left": 6}  # twice the dead-letter threshold

    def outage(topic: str, key: bytes | None, value: bytes | None) -> BaseException | None:
        if topic.endswith(".state") and failures["left"] > 0:
            failures["left"] -= 1
            return error
        return None

    rig = Rig(outage)
    await rig.feed(Item(n=1), Item(n=2, fill=10), Item(n=3))
    batches = await rig.pump()

    assert batches == 7
    assert await rig.dead_letters() == []
    outcome = await rig.outcome()
    assert {t: outcome[t] for t in ("t1", "t2", "t3")} == {
        t: ["task_completed", "step_finished:result"] for t in ("t1", "t2", "t3")
    }


async def test_a_dead_letter_that_fails_to_go_out_goes_again_without_the_original() -> None:
    sends = {"dlq": 0}

    def refuse(topic: str, key: bytes | None, value: bytes | None) -> BaseException | None:
        if topic.endswith(".dlq"):
            sends["dlq"] += 1
            if sends["dlq"] == 1:
                return RuntimeError("dead letter refused")
        return too_large(topic, key, value)

    rig = Rig(refuse)
    await rig.feed(Item(n=1, fill=MIB + 1))
    await rig.pump()

    (letter,) = await rig.dead_letters()
    assert (letter.stage, letter.original_value, letter.original_offset) == ("oversize", None, 0)
    assert "left out" in letter.error_message


async def test_an_output_avro_cannot_encode_dead_letters_the_step_at_once() -> None:
    harness = AgentHarness(mesh, "keeper")
    run = await harness.run(Item(n=1, overflow=True))

    (letter,) = run.dead_letters
    assert (letter.stage, letter.error_class, letter.attempts) == (
        "handler",
        "UnencodableError",
        1,
    )
    assert "cannot be encoded as Avro" in letter.error_message
    assert run.kinds == ["step_finished", "task_failed"]
    assert run.handoffs == []
    # The next input is fine.
    assert (await harness.run(Item(n=3, hand=4))).handoffs[0].payload == Item(n=4)


async def test_a_dead_lettered_step_leaves_the_task_state_as_it_was() -> None:
    harness = AgentHarness(mesh, "keeper")
    await harness.run(Item(n=1, fill=3), task_id="t-s")
    kept = harness.state.get("t-s")
    run = await harness.run(Item(n=2, fill=7, overflow=True), task_id="t-s")
    assert [letter.stage for letter in run.dead_letters] == ["handler"]
    assert harness.state.get("t-s") == kept  # the 7-byte blob of the failed step is not kept


async def test_a_claim_checked_input_is_dead_lettered_as_its_ticket() -> None:
    harness = AgentHarness(mesh, "keeper")
    await harness.codecs.register()
    envelope = mesh.inbox_model("keeper")(
        task_id="t-c", from_agent="x", to_agent="keeper", payload=Item(n=1, overflow=True)
    )
    resolved = harness.codecs.inbox.encode(envelope)
    record = RawRecord("ns.agent.keeper", 0, 7, b"t-c", resolved, [], ticket=b"the-ticket")
    (letter,) = [
        await harness.codecs.dlq.decode(e.value or b"")
        for e in await harness.processor.process(record)
        if e.topic == harness.topics.dlq
    ]
    assert (letter.stage, letter.original_offset) == ("handler", 7)
    assert letter.original_value == b"the-ticket"  # as it came, not the resolved bytes


async def test_a_result_over_the_message_limit_dead_letters_the_step_at_once() -> None:
    harness = AgentHarness(mesh, "keeper")
    run = await harness.run(Item(n=1, out=MIB))

    (letter,) = run.dead_letters
    assert (letter.stage, letter.error_class) == ("oversize", "OversizeError")
    assert run.kinds == ["step_finished", "task_failed"]
    assert isinstance(run.events[-1].body, TaskFailed)
    assert not any(isinstance(e.body, TaskCompleted) for e in run.events)


async def test_a_dead_letter_always_fits_the_message_limit() -> None:
    harness = AgentHarness(mesh, "keeper")
    await harness.codecs.register()

    big = RawRecord("in", 0, 7, b"k", b"v" * (3 * MIB), [("h", b"x" * 100)])
    encoded = fit_dead_letter(
        harness.codecs.dlq,
        dead_letter_of(big, None, "oversize", ValueError("too big"), 1),
        max_bytes=1_000_000,
    )
    letter = await harness.codecs.dlq.decode(encoded)
    assert len(encoded) <= 1_000_000
    assert letter.original_value == big.value[: 1_000_000 - 64 * 1024]  # type: ignore[index]
    assert "original value truncated from 3145728 bytes" in letter.error_message

    # Headers too large for the headroom: value and headers go, the message says so.
    heavy = RawRecord("in", 0, 8, b"k", b"v" * 10, [("h", b"x" * 2_000_000)])
    encoded = fit_dead_letter(
        harness.codecs.dlq,
        dead_letter_of(heavy, None, "handler", ValueError("no"), 1),
        max_bytes=1_000_000,
    )
    letter = await harness.codecs.dlq.decode(encoded)
    assert len(encoded) <= 1_000_000
    assert (letter.original_value, letter.original_headers) == (None, [])
    assert "left out" in letter.error_message
    assert letter.original_offset == 8
