"""The programs some tests need beyond Python (Docker, Compose, Helm, Jaeger, promtool).

`make tools` (run by `make test`) installs them once under ``$AGENTMESH_TOOLS``; a tool that
could not be installed leaves ``<tool>.unavailable`` there with the reason. Tests that need one
skip with that reason, except under ``AGENTMESH_REQUIRE_TOOLS=1`` (CI), where a missing tool
is a failure: CI must not pass by skipping what it is there to check.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

__all__ = ["TOOLS", "need_tool"]

TOOLS = Path(os.environ.get("AGENTMESH_TOOLS", Path.home() / ".cache" / "agentmesh" / "tools"))


def need_tool(name: str, program: str | Path) -> Path:
    """The path of ``program`` (a name looked up on PATH and in ``$AGENTMESH_TOOLS/bin``, or a
    path), or skip (fail under AGENTMESH_REQUIRE_TOOLS=1) saying why it is missing."""
    found: str | None
    if isinstance(program, Path) or os.sep in str(program):
        found = str(program) if Path(program).exists() else None
    else:
        found = shutil.which(program) or shutil.which(program, path=str(TOOLS / "bin"))
    if found is not None:
        return Path(found)
    marker = TOOLS / f"{name}.unavailable"
    reason = marker.read_text().strip() if marker.exists() else "not installed"
    message = f"{name} ({program}) is unavailable: {reason}; `make tools` installs it"
    if os.environ.get("AGENTMESH_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)
