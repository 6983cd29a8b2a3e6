"""Does a service answer its protocol (not merely accept TCP)?"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from agentmesh.core.transport import KafkaConnection, make_admin

__all__ = ["kafka_answers", "registry_answers"]


async def _kafka_metadata(conn: KafkaConnection, limit: float) -> bool:
    admin = make_admin(conn)
    try:
        async with asyncio.timeout(limit):
            await admin.start()
            await admin.describe_cluster()
    except Exception:  # noqa: BLE001 - any failure means "not answering yet"
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return True


def kafka_answers(
    bootstrap: str, timeout: float = 3.0, *, conn: KafkaConnection | None = None
) -> bool:
    """True when the cluster at ``bootstrap`` answers a metadata request (as ``conn``'s user)."""
    conn = conn or KafkaConnection(bootstrap=bootstrap, client_id="agentmesh-probe")
    return asyncio.run(_kafka_metadata(conn, timeout))


def registry_answers(url: str, timeout: float = 3.0) -> bool:
    """True when the registry at ``url`` (Confluent API base) answers: it lists the schema
    types it supports (constant size; listing subjects slows as the registry fills up)."""
    try:
        return httpx.get(f"{url}/schemas/types", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
