"""What ``bench.hop`` does to every case: feed inputs, watch outputs, time the difference.

Outputs count once a ``read_committed`` consumer (:class:`Probe`) sees them, i.e. once the
transaction that wrote them has committed and its markers are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from agentmesh.contracts import Codec, Handoff, new_id
from agentmesh.core import Settings
from agentmesh.core.transport import (
    ConsumerOptions,
    KafkaConnection,
    make_admin,
    make_consumer,
    partition_for,
)
from bench._hop_cases import StageTimes
from bench.codec import ResearchBrief, sample_handoff

__all__ = [
    "Drain",
    "Input",
    "InputMaker",
    "Probe",
    "RetryCounter",
    "Sample",
    "UnreachableError",
    "check_reachable",
    "delete_namespace",
    "drain",
    "hop_samples",
    "stage_breakdown",
]

Input = tuple[bytes, bytes]
"""(key, value) of one input record: the task id and a framed Avro handoff to ``hop``."""


class UnreachableError(RuntimeError):
    """The broker or the schema registry does not answer."""


async def check_reachable(settings: Settings, timeout_s: float = 10.0) -> None:
    """Raise :class:`UnreachableError`, with the fix, unless broker and registry answer."""
    hint = (
        "start the local ones with `.venv/bin/agentmesh infra up`, "
        "or pass --bootstrap/--registry-url"
    )
    admin = make_admin(KafkaConnection.from_settings(settings))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise UnreachableError(
            f"cannot reach the Kafka broker at {settings.bootstrap} "
            f"({type(exc).__name__}: {exc or 'timed out'}); {hint}"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            (await client.get(f"{settings.registry_url}/subjects")).raise_for_status()
    except httpx.HTTPError as exc:
        raise UnreachableError(
            f"cannot reach the schema registry at {settings.registry_url} "
            f"({type(exc).__name__}: {exc}); {hint}"
        ) from None


async def delete_namespace(settings: Settings) -> list[str]:
    """Delete every topic of the benchmark's own namespace; return their names."""
    admin = make_admin(KafkaConnection.from_settings(settings))
    await admin.start()
    try:
        prefix = f"{settings.namespace}."
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
        return mine
    finally:
        await admin.close()


class InputMaker:
    """Fresh ~1 KB handoffs to ``hop``: unique ids, so agentmesh's dedup never drops one."""

    def __init__(self, codec: Codec[Handoff[Any]]) -> None:
        self.codec = codec
        template = sample_handoff()
        # The sample's deadline is in the past: the step would fail its budget check.
        self.budget = template.budget.model_copy(update={"deadline": None})
        self.template = template

    def make(self, n: int) -> list[Input]:
        return [self.one(new_id()) for _ in range(n)]

    def covering(self, partitions: int, per_partition: int) -> list[Input]:
        """Inputs keyed so that each partition (of inputs and outputs alike) gets some."""
        wanted = dict.fromkeys(range(partitions), per_partition)
        inputs = []
        while wanted:
            task_id = new_id()
            p = partition_for(task_id.encode(), partitions)
            if p in wanted:
                inputs.append(self.one(task_id))
                wanted[p] -= 1
                if not wanted[p]:
                    del wanted[p]
        return inputs

    def one(self, task_id: str) -> Input:
        """A handoff of a task of its own, as it would arrive from an upstream agent."""
        envelope: Handoff[ResearchBrief] = self.template.model_copy(
            update={
                "task_id": task_id,
                "handoff_id": new_id(),
                "idempotency_key": new_id(),
                "parent_id": None,
                "from_agent": "bench",
                "to_agent": "hop",
                "hop": 0,
                "budget": self.budget,
            }
        )
        return task_id.encode(), self.codec.encode(envelope)


class Probe:
    """A ``read_committed`` reader of one case's output topic (no group, all partitions)."""

    def __init__(self, conn: KafkaConnection, topic: str, partitions: int) -> None:
        self.topic = topic
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]
        options = ConsumerOptions(group_id=None, max_poll_records=10_000, client_suffix="probe")
        self.consumer = make_consumer(conn, options=options)

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.assign(self.tps)
        await self.skip_to_end()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def skip_to_end(self) -> None:
        """Look only at what is written from now on."""
        await self.consumer.seek_to_end(*self.tps)
        for tp in self.tps:
            await self.consumer.position(tp)  # resolve the lazy seek now, not at the next fetch

    async def wait_for(self, key: bytes, timeout_s: float) -> float:
        """The perf_counter time the output keyed ``key`` became visible; nothing else may come."""
        deadline = time.perf_counter() + timeout_s
        while (left := deadline - time.perf_counter()) > 0:
            batch = await self.consumer.getmany(timeout_ms=int(left * 1000) + 1)
            seen = time.perf_counter()
            keys = [r.key for records in batch.values() for r in records]
            if keys == [key]:
                return seen
            if keys:
                raise RuntimeError(f"{self.topic}: expected one output keyed {key!r}, got {keys}")
        raise TimeoutError(f"{self.topic}: no output for {key!r} within {timeout_s:.0f} s")

    async def wait_count(self, n: int, timeout_s: float) -> float:
        """The perf_counter time the ``n``-th output became visible."""
        seen, deadline = 0, time.perf_counter() + timeout_s
        while (left := deadline - time.perf_counter()) > 0:
            batch = await self.consumer.getmany(timeout_ms=int(min(left, 1.0) * 1000) + 1)
            seen += sum(len(records) for records in batch.values())
            if seen >= n:
                return time.perf_counter()
        raise TimeoutError(f"{self.topic}: {seen} of {n} outputs visible after {timeout_s:.0f} s")


@dataclass(frozen=True, slots=True)
class Sample:
    """One input sent at ``sent`` whose output was visible at ``visible`` (perf_counter)."""

    sent: float
    visible: float

    @property
    def latency_s(self) -> float:
        return self.visible - self.sent


async def hop_samples(
    feeder: AIOKafkaProducer,
    probe: Probe,
    topic: str,
    inputs: Sequence[Input],
    *,
    timeout_s: float = 30.0,
) -> list[Sample]:
    """One input in flight at a time: send it, wait until its output is visible, repeat."""
    await probe.skip_to_end()
    samples = []
    for key, value in inputs:
        sent = time.perf_counter()
        delivery = await feeder.send(topic, value, key=key)
        visible = await probe.wait_for(key, timeout_s)
        await delivery  # raises if the input itself was not written
        samples.append(Sample(sent, visible))
    return samples


@dataclass(frozen=True, slots=True)
class Drain:
    """One load run: wall seconds until every output was visible, and this process's CPU."""

    wall_s: float
    cpu_s: float


async def drain(
    loader: AIOKafkaProducer,
    probe: Probe,
    topic: str,
    inputs: Sequence[Input],
    *,
    timeout_s: float,
) -> Drain:
    """Time from ``inputs`` becoming visible at once until all their outputs are.

    The inputs are written in one transaction and flushed to the broker first, so the case
    sees none of them until the commit: the clock starts just before it. The CPU time is the
    whole process's (the case, the probe, idle clients) over the same span.
    """
    await probe.skip_to_end()
    await loader.begin_transaction()
    try:
        for key, value in inputs:
            await loader.send(topic, value, key=key)
        await loader.flush()
    except BaseException:
        await loader.abort_transaction()
        raise
    start, cpu = time.perf_counter(), time.process_time()
    await loader.commit_transaction()
    done = await probe.wait_count(len(inputs), timeout_s)
    return Drain(done - start, time.process_time() - cpu)


class RetryCounter(logging.Handler):
    """Counts aiokafka's "retrying" produce warnings, per case.

    Kafka 4 with Eligible Leader Replicas answers some produce requests with a spurious
    NOT_ENOUGH_REPLICAS (aio-libs/aiokafka#1172); aiokafka retries after retry_backoff_ms
    (100 ms). Counting them says which measurements paid for that.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.current = ""
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.counts[self.current] = self.counts.get(self.current, 0) + 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[RetryCounter]:
        sender = logging.getLogger("aiokafka.producer.sender")
        sender.addHandler(self)
        try:
            yield self
        finally:
            sender.removeHandler(self)


def stage_breakdown(samples: Sequence[Sample], stages: StageTimes) -> dict[str, float] | None:
    """Median ms per stage of the baseline's one-in-flight hops (None if batches do not match).

    Each sample must have been one batch of one record, so stamps pair up one to one.
    """
    n = len(samples)
    if n == 0 or len(stages.polled) != n or len(stages.committed) != n:
        return None

    def median_ms(pairs: Sequence[tuple[float, float]]) -> float:
        return statistics.median(b - a for a, b in pairs) * 1000

    sent = [s.sent for s in samples]
    visible = [s.visible for s in samples]
    return {
        "send_to_polled_ms": median_ms(list(zip(sent, stages.polled, strict=True))),
        "polled_to_offsets_sent_ms": median_ms(
            list(zip(stages.polled, stages.offsets_sent, strict=True))
        ),
        "offsets_sent_to_committed_ms": median_ms(
            list(zip(stages.offsets_sent, stages.committed, strict=True))
        ),
        "committed_to_visible_ms": median_ms(list(zip(stages.committed, visible, strict=True))),
    }
