"""The wheels as a user installs them: one namespace, nothing shadowed, each role on its own.

Builds every distribution of the workspace (``uv build --all-packages``) and installs the
wheels into fresh virtual environments, with packages from PyPI whose import names the old
layout took (``agents``: the OpenAI Agents SDK; ``supervisor``: supervisord).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = [
    "agentmesh",
    "agentmesh_agents",
    "agentmesh_contracts",
    "agentmesh_core",
    "agentmesh_gateway",
    "agentmesh_infra",
    "agentmesh_supervisor",
]
NEIGHBOURS = ["openai-agents", "supervisor"]


def _uv() -> str:
    # `uv run` (what `make test` uses) tells its children where it is.
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv on PATH or in $UV: run the suite with `make test`")
    return uv


def _run(*argv: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, argv))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    _run(_uv(), "build", "--all-packages", "--wheel", "--out-dir", out, "--quiet")
    return {w.name.split("-")[0]: w for w in out.glob("*.whl")}


def _venv(path: Path) -> Path:
    # Another interpreter's site-packages would hide what the wheels do (or fail to do).
    base = getattr(sys, "_base_executable", sys.executable)
    _run(_uv(), "venv", "--quiet", "--python", base, path)
    return path / "bin" / "python"


def _install(python: Path, *what: str | Path) -> None:
    _run(_uv(), "pip", "install", "--quiet", "--python", python, *what)


def test_every_part_is_a_wheel_and_the_sample_is_not_in_the_library(
    wheels: dict[str, Path],
) -> None:
    assert sorted(wheels) == sorted([*LIBRARY, "agentmesh_examples"])
    for name in LIBRARY:
        tops = {n.split("/")[0] for n in zipfile.ZipFile(wheels[name]).namelist()}
        # The one top-level name, and the wheel's own metadata (the CLI script is metadata).
        assert {t for t in tops if not t.endswith(".dist-info")} <= {"agentmesh"}, name
        members = zipfile.ZipFile(wheels[name]).namelist()
        assert "agentmesh/__init__.py" not in members, f"{name} would own the namespace"
        assert not any(m.startswith("agentmesh_examples") for m in members), name


def test_agentmesh_installs_beside_the_openai_agents_sdk_and_supervisord(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv")
    _install(python, *NEIGHBOURS)
    before = _run(python, "-c", "import agents, supervisor; print(agents.__file__)")
    _install(python, *(wheels[name] for name in LIBRARY))
    probe = (
        "import agents, supervisor, supervisor.supervisord\n"
        "import agentmesh.agents, agentmesh.contracts, agentmesh.core, agentmesh.cli\n"
        "import agentmesh.supervisor, agentmesh.gateway, agentmesh.infra\n"
        "assert hasattr(agents, 'Runner') and hasattr(agents, 'Agent'), 'not the Agents SDK'\n"
        "assert not hasattr(agents, 'Mesh'), 'agentmesh replaced the Agents SDK'\n"
        "print(agents.__file__)\n"
        "print(len(list(agentmesh.__path__)))\n"
    )
    after = _run(python, "-c", probe).splitlines()
    site = python.parent.parent / "lib"
    assert after[0] == before.strip()
    assert int(after[1]) == 1  # one site-packages/agentmesh, shared by six wheels
    assert [p.name for p in site.glob("python*/site-packages/agentmesh/__init__.py")] == []
    assert "Usage: agentmesh" in _run(python.parent / "agentmesh", "--help")


def test_an_agent_role_installs_without_the_supervisor_or_gateway_stack(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    python = _venv(tmp_path / "agent")
    # Only what an agent's container needs: the runtime and the parts it depends on.
    parts = ["agentmesh_agents", "agentmesh_core", "agentmesh_contracts"]
    _install(python, *(wheels[name] for name in parts))
    probe = (
        "import importlib.util as u, agentmesh.agents, agentmesh.cli\n"
        "print([m for m in ('faust', 'fastapi', 'agentmesh.supervisor', 'agentmesh.gateway')"
        " if u.find_spec(m) is not None])\n"
    )
    assert _run(python, "-c", probe).strip() == "[]"
    missing = subprocess.run(
        [python.parent / "agentmesh", "run", "gateway"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode != 0
    assert "pip install agentmesh-gateway" in missing.stderr + missing.stdout
