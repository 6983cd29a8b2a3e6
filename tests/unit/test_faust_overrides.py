"""The supervisor's overrides of faust internals, run inside faust's own code around them.

Each test drives the faust methods an override plugs into (the fetch loop, acknowledgement,
gap bookkeeping, commit, changelog recovery) on a real faust consumer, stubbing only the
broker. A faust upgrade that changes what an override relies on fails here first.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import faust
import pytest
from aiokafka import ConsumerRecord
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from pydantic import BaseModel

from agentmesh.supervisor import _faust_overrides as overrides

EVENTS = TP("ns.events", 0)


@pytest.fixture
async def consumer() -> Any:
    # Built inside the test's event loop: faust binds its events to the loop it finds.
    app = faust.App("unit-overrides", broker=f"{overrides.SCHEME}://127.0.0.1:1", web_enabled=False)
    app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
    c: Any = app.consumer
    assert isinstance(c, overrides._Consumer)
    return c


@pytest.fixture
def broker(consumer: Any, monkeypatch: pytest.MonkeyPatch) -> _Broker:
    return _Broker(consumer, monkeypatch)


def _record(offset: int, tp: TP = EVENTS) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())


class _Fetcher:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()


class _Broker:
    """The client under faust's fetch, stubbed: what the next fetch returns, and positions.

    ``drain`` runs one pass of faust's own fetch loop (``_drain_messages``, through the
    overridden ``getmany``) over records at the given offsets.
    """

    def __init__(self, consumer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.consumer = consumer
        self.batch: dict[TP, list[Any]] = {}
        self.position = 0
        monkeypatch.setattr(consumer, "_getmany", self._fetch)
        monkeypatch.setattr(consumer, "_get_active_partitions", lambda: {EVENTS})
        monkeypatch.setattr(consumer, "position", self._position)
        monkeypatch.setattr(consumer, "highwater", lambda tp: None)
        monkeypatch.setattr(consumer, "assignment", lambda: {EVENTS})
        consumer.flow_active = True

    async def _fetch(self, active_partitions: Any, timeout: float) -> Any:
        batch, self.batch = self.batch, {}
        return batch

    async def _position(self, tp: TP) -> int:
        return self.position

    async def drain(
        self, offsets: list[int], *, position: int, ack: bool = True, stop_at: int | None = None
    ) -> None:
        """Fetch ``offsets`` (the client then at ``position``) and hand them on; acknowledge
        each unless ``ack`` is false; stop handing on before ``stop_at`` as faust does when
        its flow stops."""
        c, fetcher = self.consumer, _Fetcher()
        self.batch = {EVENTS: [_record(o) for o in offsets]} if offsets else {}
        self.position = position

        async def callback(message: Any) -> None:
            if ack:
                c.ack(message)
            if message.offset + 1 == stop_at:
                c.flow_active = False
            fetcher._stopped.set()  # one fetch is enough

        c.callback = callback
        if not offsets:
            fetcher._stopped.set()
            async for _ in c.getmany(0):  # an idle fetch: faust's loop hands nothing on
                raise AssertionError("nothing was fetched")
            return
        await c._drain_messages(fetcher)
        c.flow_active = True

    def commit(self) -> int | None:
        """What faust would commit now, recorded as committed."""
        offset: int | None = self.consumer._new_offset(EVENTS)
        if offset is not None:
            self.consumer._committed_offset[EVENTS] = offset
        return offset


# One record per agent transaction: each is followed by its commit marker (odd offsets).
TRANSACTIONS = list(range(0, 40, 2))


async def test_faust_still_passes_the_record_after_a_gap_as_its_inclusive_end(
    broker: _Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Override 3 leans on this; if it fails, faust changed the call: drop the override.
    calls: list[tuple[int, int]] = []

    async def spy(tp: TP, offset_from: int, offset_to: int) -> None:
        calls.append((offset_from, offset_to))

    monkeypatch.setattr(broker.consumer, "_add_gap", spy)
    broker.consumer._read_offset[EVENTS] = 10  # as after a seek to the committed offset 10
    await broker.drain([10, 12, 15], position=16)
    assert calls == [(11, 12), (13, 15)]


async def test_faust_alone_stops_at_the_first_marker(broker: _Broker) -> None:
    # The bug override 3 fixes: faust's own gap makes one offset count twice.
    broker.consumer._read_offset[EVENTS] = 10
    await faust_aiokafka.Consumer._add_gap(broker.consumer, EVENTS, 11, 12)
    broker.consumer.ack(broker.consumer._to_message(EVENTS, _record(10)))
    broker.consumer.ack(broker.consumer._to_message(EVENTS, _record(12)))
    assert sorted(broker.consumer._gap[EVENTS])[0].end == 13  # 12 is in the gap and acked


async def test_transaction_markers_do_not_hold_the_commit_back(broker: _Broker) -> None:
    await broker.drain(TRANSACTIONS, position=39)  # the last marker not fetched yet
    assert broker.commit() == 39


async def test_a_new_topics_first_marker_does_not_hold_the_commit_back(broker: _Broker) -> None:
    await broker.drain([0, 2], position=3)
    assert broker.commit() == 3


async def test_a_record_handed_on_but_not_acknowledged_holds_the_commit(broker: _Broker) -> None:
    await broker.drain([0, 2, 4], position=5)
    assert broker.commit() == 5
    await broker.drain([6, 8], position=9, ack=False)
    assert broker.commit() is None  # 5 is a marker, 6 is not done


async def test_a_gap_is_committed_with_the_record_after_it(broker: _Broker) -> None:
    await broker.drain([0, 1], position=2)
    assert broker.commit() == 2
    await broker.drain([4], position=5, ack=False)  # 2 and 3: a marker and an abort
    assert broker.commit() is None
    broker.consumer.ack(broker.consumer._to_message(EVENTS, _record(4)))
    assert broker.commit() == 5


async def test_idle_commits_reach_the_fetch_position_past_the_last_marker(
    broker: _Broker,
) -> None:
    await broker.drain(TRANSACTIONS, position=40)
    assert broker.commit() == 40
    assert broker.commit() is None  # nothing more to commit


async def test_a_marker_fetched_alone_is_committed_once_idle(broker: _Broker) -> None:
    await broker.drain(TRANSACTIONS, position=39)
    assert broker.commit() == 39
    await broker.drain([], position=40)  # the next fetch returns no record, only moves on
    assert broker.commit() == 40


async def test_the_fetch_position_waits_for_records_in_flight(broker: _Broker) -> None:
    await broker.drain([0, 2], position=4)
    await broker.drain([4, 6], position=8, ack=False)
    assert broker.commit() == 3  # not past 4, which is not done


async def test_no_position_is_noted_when_faust_stops_handing_on_mid_fetch(
    broker: _Broker,
) -> None:
    await broker.drain([0, 2, 4], position=6, stop_at=3)  # 4 fetched, not handed on
    assert broker.commit() == 3  # not 6: 4 was never processed


async def test_the_before_commit_hook_runs_after_offsets_are_chosen_and_before_the_commit(
    broker: _Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = broker.consumer
    calls: list[str] = []
    c._committed_offset[EVENTS] = c._read_offset[EVENTS] = 10

    async def commit_offsets(offsets: Any, start_new_transaction: bool = True) -> bool:
        calls.append(f"commit {dict(offsets)}")
        c._committed_offset.update(offsets)
        return True

    async def hook() -> None:
        calls.append("summaries")
        if fail:
            raise ConnectionError("broker away")

    monkeypatch.setattr(c, "_commit_offsets", commit_offsets)
    overrides.before_commit(c.app, hook)
    fail = True
    await broker.drain([10, 11, 12], position=13)
    assert not await c._commit_tps([EVENTS], start_new_transaction=False)
    assert calls == ["summaries"]  # the hook failed: nothing committed
    fail = False
    calls.clear()
    await broker.drain([13], position=14)
    # The offsets chosen for the failed commit were kept: the next one covers them too.
    assert await c._commit_tps([EVENTS], start_new_transaction=False)
    assert calls == ["summaries", f"commit { ({EVENTS: 14}) }"]


async def test_the_worker_consumer_reads_committed_data_only(consumer: Any) -> None:
    client = consumer._thread._create_worker_consumer(consumer.app.transport)
    try:
        assert client._isolation_level == "read_committed"
    finally:
        client._closed = True  # never started: nothing to stop


class _Ledger(BaseModel):
    steps: int


async def test_a_recovered_table_holds_models(consumer: Any) -> None:
    table = consumer.app.Table("ledgers")
    overrides.model_values(table, _Ledger)

    class Event:
        key = b"t1"
        value: ClassVar[dict[str, int]] = {"steps": 3}
        message = type("M", (), {"partition": 0, "value": b"{}"})()

    table.apply_changelog_batch([Event()])
    assert table.data[b"t1"] == _Ledger(steps=3)


async def test_a_table_written_for_an_event_of_a_batch_logs_to_that_events_partition(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faust.types import Message

    from agentmesh.supervisor._batch import OpenLedgers
    from agentmesh.supervisor._ledger import TaskLedger

    table: Any = consumer.app.Table("ledgers")
    sent: list[tuple[int | None, Any]] = []

    def send_changelog(partition: int | None, key: Any, value: Any, *a: Any, **kw: Any) -> Any:
        sent.append((partition, key))
        return type("Fut", (), {"message": type("M", (), {"partition": partition})()})()

    monkeypatch.setattr(table, "send_changelog", send_changelog)

    class Event:  # what faust's take_events hands over: an event with its message
        def __init__(self, partition: int) -> None:
            self.message = Message("ns.events", partition, 0, 0.0, 0, None, b"t", b"", b"")

    with pytest.raises(TypeError, match="outside of stream iteration"):
        table["t"] = TaskLedger(task_id="t")  # faust alone: no event, no partition
    ledgers = OpenLedgers(table)
    monkeypatch.setattr(table, "_verify_source_topic_partitions", lambda topic: None)
    event = Event(4)  # held, as faust's batch holds its events (in_event keeps a weakref)
    with ledgers.batch():
        for step in range(3):
            with overrides.in_event(event):
                ledgers.put("t", TaskLedger(task_id="t", steps=step))
        assert sent == []  # open until the batch ends
        assert ledgers.get("t") == TaskLedger(task_id="t", steps=2)
    assert sent == [(4, "t")]  # one record, to the partition of the task's events
    assert table["t"].steps == 2
