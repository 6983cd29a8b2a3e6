"""Running Helm and k8scheck on the chart under infra/charts/agentmesh, for the chart tests."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CHART", "Checked", "Rendered", "check", "render", "run"]

CHART = Path(__file__).resolve().parents[2] / "infra" / "charts" / "agentmesh"

Manifest = dict[str, Any]


def run(argv: list[str | Path], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``argv`` to completion, output captured; a hung Helm fails the test instead of the suite."""
    return subprocess.run(
        [str(a) for a in argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass(frozen=True)
class Rendered:
    """What ``helm template`` printed: its documents, parsed, and the text itself."""

    text: str
    objects: list[Manifest]

    def one(self, kind: str, name: str) -> Manifest:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered; {self.names()}"
        return found[0]

    def names(self) -> list[tuple[str, str]]:
        return sorted((o["kind"], o["metadata"]["name"]) for o in self.objects)


def render(
    helm: Path, values: list[Path] | None = None, sets: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``helm template agentmesh CHART`` with values files and ``--set`` pairs (not checked)."""
    argv: list[str | Path] = [helm, "template", "agentmesh", CHART, "--namespace", "mesh"]
    for path in values or []:
        argv += ["--values", path]
    for pair in sets or []:
        argv += ["--set", pair]
    return run(argv)


def parse(text: str) -> Rendered:
    return Rendered(text, [d for d in yaml.safe_load_all(text) if d])


@dataclass(frozen=True)
class Checked:
    """k8scheck's verdict: its exit code and its report, one entry per object."""

    returncode: int
    report: dict[str, Any]

    def errors(self) -> dict[str, list[str]]:
        return {
            f"{o['kind']}/{o['name']}": o["errors"] for o in self.report["objects"] if o["errors"]
        }


def check(k8scheck: Path, text: str) -> Checked:
    """Every document of ``text`` decoded strictly into its API type, and the rules around it."""
    done = run([k8scheck, "-json"], stdin=text)
    assert done.returncode in (0, 1), f"k8scheck could not run: {done.stderr}"
    return Checked(done.returncode, json.loads(done.stdout))
