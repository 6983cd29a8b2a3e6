"""Every agent instance reads the whole control topic (no group) into its ControlState."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer

from agentmesh.agents._control import ControlState
from agentmesh.contracts import Codec, ControlCommand, DecodeError, RegistryUnavailableError
from agentmesh.core.transport import ConsumerOptions, KafkaConnection, make_consumer

__all__ = ["ControlListener"]

log = logging.getLogger(__name__)


class ControlListener:
    """Keeps a :class:`ControlState` current; ``start`` returns once it has caught up."""

    def __init__(
        self, conn: KafkaConnection, topic: str, codec: Codec[ControlCommand], state: ControlState
    ) -> None:
        self.conn = conn
        self.topic = topic
        self.codec = codec
        self.state = state
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Short fetch waits: a kill switch must reach every instance within a second.
        options = ConsumerOptions(group_id=None, fetch_max_wait_ms=100, client_suffix="control")
        self._consumer = make_consumer(self.conn, self.topic, options=options)
        await self._consumer.start()
        await self._catch_up(self._consumer)
        self._task = asyncio.create_task(self._follow(self._consumer), name="control-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _catch_up(self, consumer: AIOKafkaConsumer) -> None:
        partitions = consumer.assignment()
        while not partitions:
            await asyncio.sleep(0.05)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                await self._apply(await consumer.getmany(tp, timeout_ms=200))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            await self._apply(await consumer.getmany(timeout_ms=1000))

    async def _apply(self, batch: dict[object, list[object]]) -> None:
        for records in batch.values():
            for record in records:
                key = record.key.decode() if record.key else ""  # type: ignore[attr-defined]
                value = record.value  # type: ignore[attr-defined]
                try:
                    command = None if value is None else await self._decode(value)
                except DecodeError:
                    log.exception("ignoring unreadable control record %r", key)
                    continue
                self.state.apply(key, command)

    async def _decode(self, value: bytes) -> ControlCommand:
        # A registry outage must not kill the listener (control would silently stop being
        # obeyed): wait for the registry and read the same record again.
        while True:
            try:
                return await self.codec.decode(value)
            except RegistryUnavailableError as exc:
                log.warning("control record waits for the schema registry: %s", exc)
                await asyncio.sleep(1.0)
