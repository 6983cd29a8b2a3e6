"""schemathesis against the running gateway's OpenAPI document: no input makes it fail (5xx)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from agentmesh.core import Settings
from tests.apps import governed
from tests.gateway_helpers import TOKENS, serving
from tests.runtime_helpers import running

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]


async def test_no_generated_request_gets_a_server_error(settings: Settings, tmp_path: Path) -> None:
    async with running(governed.mesh, ["payer"], settings), serving(settings, tmp_path) as url:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {TOKENS['root']}",
            # Streams never end by design; they are tested by the gateway's own tests.
            "--exclude-path-regex",
            "stream|/events$",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--request-timeout",
            "20",
            cwd=tmp_path,  # schemathesis keeps its example database in the working directory
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 280)
    report = out.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(report)
    assert proc.returncode == 0, report[-6000:]
