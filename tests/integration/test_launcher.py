"""What `agentmesh demo` starts: a gateway that cannot take its port is reported, not trusted."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agentmesh.cli._launcher import AgentProcesses, LaunchError
from agentmesh.core import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def test_a_gateway_whose_port_is_taken_fails_the_start_naming_why(
    settings: Settings, tmp_path: Path
) -> None:
    # Someone else listens there: the gateway starts its application, then cannot bind.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        procs = AgentProcesses(
            "tests.apps.pipeline:mesh",
            [],
            settings,
            tmp_path,
            gateway_env={
                "AGENTMESH_GATEWAY_PORT": str(port),
                "AGENTMESH_GATEWAY_TOKENS": "demo-admin:a-token-of-sixteen-chars:admin",
            },
        )
        procs.start()
        try:
            with pytest.raises(LaunchError) as failed:
                await procs.wait_ready(timeout_s=90)
        finally:
            procs.stop()
    assert "gateway exited during start-up" in str(failed.value)
    assert "address already in use" in str(failed.value)
