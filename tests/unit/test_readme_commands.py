"""The commands the README and docs give work as written on a fresh machine.

`make install` may have bootstrapped uv into ~/.cache/agentmesh/tools, which is not on the
user's PATH, so no documented command may start with `uv run`; every `.venv/bin/agentmesh`
command must exist (its `--help` runs with a PATH that has neither uv nor the venv on it).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
_FENCE = re.compile(r"```(?:sh|bash|console)?\n(.*?)```", re.DOTALL)


def _commands() -> list[tuple[str, str]]:
    """(file, command line) for every line of a shell block in the docs."""
    found = []
    for doc in DOCS:
        for block in _FENCE.findall(doc.read_text()):
            for raw in block.replace("\\\n", " ").splitlines():
                line = raw.split("  #")[0].strip()
                if line and not line.startswith("#"):
                    found.append((doc.relative_to(ROOT).as_posix(), line))
    return found


def _agentmesh_subcommands() -> list[tuple[str, list[str]]]:
    out = []
    for where, line in _commands():
        try:
            words = shlex.split(line)
        except ValueError:  # not a shell line (a JSON or YAML example)
            words = line.split()
        while words and "=" in words[0]:  # VAR=value prefixes
            words.pop(0)
        if words[:1] == [".venv/bin/agentmesh"]:
            # The subcommand path: the words before the first option or argument value.
            path = []
            for word in words[1:]:
                if word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                path.append(word)
            out.append((where, path))
    return out


def test_no_documented_command_needs_uv_on_the_path() -> None:
    uv_run = [f"{where}: {line}" for where, line in _commands() if "uv run" in line]
    for doc in DOCS:  # and none in the prose: `uv run python -m ...`
        where = doc.relative_to(ROOT).as_posix()
        uv_run += [f"{where}: {c}" for c in re.findall(r"`(uv run \S[^`]*)`", doc.read_text())]
    assert uv_run == []


def test_the_docs_give_agentmesh_commands_to_check() -> None:
    assert len(_agentmesh_subcommands()) >= 5


@pytest.mark.parametrize(("where", "path"), _agentmesh_subcommands())
def test_every_documented_agentmesh_command_exists(where: str, path: list[str]) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    env.pop("UV", None)
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "agentmesh"), *path, "--help"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{where}: agentmesh {' '.join(path)}: {done.stderr[-2000:]}"


def test_make_run_starts_the_demo_itself_not_under_uv() -> None:
    # The pid people see and signal must be agentmesh's, not a uv parent's.
    # Under `make test` this runs inside make: its MAKEFLAGS would print directory lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("exec .venv/bin/agentmesh demo")
