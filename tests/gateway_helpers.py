"""A real gateway on a free port of this machine, for HTTP-level tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn

from agentmesh import Settings
from gateway import GatewayConfig, Signer, TokenStore, create_app

TOKENS = {
    "sam": "submitter-token-0123456789",
    "rita": "reviewer-token-0123456789",
    "rob": "reviewer2-token-0123456789",
    "ada": "auditor-token-0123456789",
    "root": "admin-token-0123456789",
}
ROLES = {
    "sam": "submitter",
    "rita": "reviewer",
    "rob": "reviewer",
    "ada": "auditor",
    "root": "admin",
}


def inline_tokens() -> str:
    return ";".join(f"{name}:{TOKENS[name]}:{ROLES[name]}" for name in TOKENS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, key_dir: Path, *, max_body_bytes: int = 1_000_000
) -> AsyncIterator[str]:
    """The gateway served by uvicorn in this event loop; yields its base URL."""
    config = GatewayConfig(tokens=inline_tokens(), max_body_bytes=max_body_bytes)
    app = create_app(
        settings,
        config,
        tokens=TokenStore.load(None, config.tokens),
        signer=Signer.load_or_create(key_dir / "key.pem"),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        await task
