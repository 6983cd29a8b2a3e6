"""Reading the newest dead letters of a namespace."""

from __future__ import annotations

import base64
from typing import Any

from agentmesh.contracts import Codec, DeadLetter, DecodeError, Topics
from agentmesh.core import Settings
from agentmesh.core.transport import KafkaConnection, read_tail

__all__ = ["dead_letter_json", "recent_dead_letters"]


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as JSON; its original key, value and header values (arbitrary bytes,
    often Avro) as base64."""
    data = letter.model_dump(mode="python")
    for name in ("original_key", "original_value"):
        raw = data.get(name)
        data[name] = None if raw is None else base64.b64encode(raw).decode()
    data["original_headers"] = [
        {"key": h.key, "value": None if h.value is None else base64.b64encode(h.value).decode()}
        for h in letter.original_headers
    ]
    data["failed_at"] = letter.failed_at.isoformat()
    return data


async def recent_dead_letters(
    settings: Settings, codec: Codec[DeadLetter], *, limit: int, task_id: str | None
) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, newest first (the last ``limit`` of each partition)."""
    topic = Topics(settings.namespace).dlq
    conn = KafkaConnection.from_settings(settings)
    out: list[DeadLetter] = []
    async for rec in read_tail(conn, topic, limit, client_suffix="dlq"):
        if rec.value is None:
            continue
        try:
            letter = await codec.decode(rec.value)
        except DecodeError:
            continue
        if task_id is None or letter.task_id == task_id:
            out.append(letter)
    out.sort(key=lambda d: d.failed_at, reverse=True)
    return out[:limit]
