"""``agentmesh dlq`` over a gateway (``--gateway URL --token T``): the same answers as
straight from Kafka, with the token's roles deciding (auditor or admin to read, admin to
redrive) and the token's name as who redrove."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import orjson

from agentmesh.cli._gateway_client import GatewayClient, GatewayError

__all__ = ["remote_list", "remote_redrive", "remote_show"]

_COUNT = "agentmesh-redrive-count"
_OF = "agentmesh-redrive-of"


def _header(letter: dict[str, Any], key: str) -> str | None:
    found = [h["value"] for h in letter.get("original_headers", []) if h["key"] == key]
    if not found or found[-1] is None:
        return None
    return base64.b64decode(found[-1]).decode(errors="replace")


def _summary(letter: dict[str, Any]) -> dict[str, Any]:
    """A dead letter of ``GET /v1/dlq`` as ``dlq list`` shows one (its position on the topic
    is not in that answer: null)."""
    count = _header(letter, _COUNT)
    return {
        "id": letter["dead_letter_id"],
        "position": None,
        "task_id": letter["task_id"],
        "agent": letter["agent"],
        "stage": letter["stage"],
        "error_class": letter["error_class"],
        "error_message": letter["error_message"],
        "attempts": letter["attempts"],
        "failed_at": letter["failed_at"],
        "original": f"{letter['original_topic']}@{letter['original_partition']}:"
        f"{letter['original_offset']}",
        "redrive_count": int(count) if count and count.isdigit() else 0,
        "redriven_from": _header(letter, _OF),
    }


async def remote_list(url: str, token: str | None, *, limit: int, task: str | None) -> list[Any]:
    params: dict[str, Any] = {"limit": min(limit, 1000)}
    if task is not None:
        params["task"] = task
    async with GatewayClient(url, token) as gw:
        found: list[dict[str, Any]] = await gw.call("GET", "/v1/dlq", params=params)
    return [_summary(d) for d in found]


async def remote_show(url: str, token: str | None, ident: str) -> dict[str, Any]:
    async with GatewayClient(url, token) as gw:
        shown: dict[str, Any] = await gw.call("GET", f"/v1/dlq/{quote(ident, safe='')}")
    return shown


async def remote_redrive(
    url: str,
    token: str | None,
    ids: list[str],
    *,
    every: bool,
    stage: str | None,
    reason: str,
    edit: str | None,
) -> list[dict[str, Any]]:
    """One outcome per dead letter, as ``dlq redrive`` reports them."""
    async with GatewayClient(url, token) as gw:
        if edit is None:
            body: dict[str, Any] = {"reason": reason, "ids": ids, "all": every, "stage": stage}
            found: list[dict[str, Any]] = await gw.call("POST", "/v1/dlq/redrive", json=body)
            return [{**o, "refused": not o["ok"]} for o in found]
        (ident,) = ids
        body = {"reason": reason, "edited_payload": orjson.loads(edit)}
        try:
            done: dict[str, Any] = await gw.call(
                "POST", f"/v1/dlq/{quote(ident, safe='')}/redrive", json=body
            )
        except GatewayError as exc:
            if exc.status not in (404, 409, 422):
                raise
            return [{"ok": False, "id": ident, "error": str(exc), "refused": True}]
        return [done]
