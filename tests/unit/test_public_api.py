"""Locks the public API of every part: each ``__all__`` is exactly what public_api.json says.

A change here is a change to what users import. Rewrite the snapshot with
``uv run python -m tests.unit.test_public_api`` and say what changed in CHANGELOG.md.
"""

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

SNAPSHOT = Path(__file__).with_name("public_api.json")
PACKAGES = [
    "agentmesh.agents",
    "agentmesh.agents.providers",
    "agentmesh.agents.providers.testing",
    "agentmesh.agents.testing",
    "agentmesh.cli",
    "agentmesh.contracts",
    "agentmesh.contracts.testing",
    "agentmesh.core",
    "agentmesh.core.metrics",
    "agentmesh.core.policy",
    "agentmesh.core.probe",
    "agentmesh.core.replay",
    "agentmesh.core.security",
    "agentmesh.core.submission",
    "agentmesh.core.telemetry",
    "agentmesh.core.topics",
    "agentmesh.core.transport",
    "agentmesh.core.views",
    "agentmesh.gateway",
    "agentmesh.infra",
    "agentmesh.supervisor",
]


def exported() -> dict[str, list[str]]:
    return {name: sorted(importlib.import_module(name).__all__) for name in PACKAGES}


def test_every_part_exports_what_the_snapshot_says() -> None:
    assert exported() == json.loads(SNAPSHOT.read_text())


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


@pytest.mark.parametrize("name", PACKAGES)
def test_nothing_public_is_left_unexported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, ModuleType)  # a module the package imported, or a submodule
        and getattr(v, "__module__", name).startswith(name)
    }
    assert sorted(public - set(module.__all__) - {"annotations"}) == []


def test_the_namespace_has_no_package_of_its_own() -> None:
    # PEP 420: every part contributes to `agentmesh`; none may own it with an __init__.py,
    # or installing that part would hide the others.
    import agentmesh

    assert getattr(agentmesh, "__file__", None) is None
    assert len(list(agentmesh.__path__)) == 6


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(exported(), indent=2) + "\n")
    print(f"wrote {SNAPSHOT}")
