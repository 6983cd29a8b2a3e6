"""Fetching jars from Maven Central with a progress callback, cached outside the repo."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from agentmesh.infra._errors import DownloadFailedError
from agentmesh.infra._prereqs import require_maven

__all__ = ["Progress", "fetch", "is_complete", "pom_property"]

Progress = Callable[[int, str], None]
"""Called with (artifacts downloaded so far, name of the latest one)."""

# Batch mode prefixes every line with its level: "[INFO] Downloaded from central: <url> (...)".
_DOWNLOADED = re.compile(r"^(?:\[INFO\] )?Downloaded from \S+: (\S+)")
_MARKER = ".complete"


def is_complete(out_dir: Path) -> bool:
    """True when a previous run fetched everything into ``out_dir``."""
    return (out_dir / _MARKER).exists()


def pom_property(pom: Path, name: str) -> str:
    """A ``<properties>`` value of ``pom`` (the poms are the one place versions are pinned)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ElementTree.parse(pom).getroot().find(f"m:properties/m:{name}", ns)  # noqa: S314 - our own file
    if node is None or not node.text:
        raise ValueError(f"{pom} has no <{name}> property")
    return node.text.strip()


def fetch(
    pom: Path,
    out_dir: Path,
    goal_args: Callable[[Path], list[str]],
    *,
    on_progress: Progress | None = None,
) -> None:
    """Run Maven on ``pom`` so that it fills ``out_dir`` (idempotent).

    ``goal_args`` gets the staging directory Maven must write into. It is renamed to
    ``out_dir`` only after Maven succeeds.

    A marker file is written only after Maven succeeds, so an interrupted download is
    resumed (Maven's own ~/.m2 cache keeps what was already fetched) rather than trusted.
    """
    if is_complete(out_dir):
        return
    mvn = require_maven()
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cmd = [mvn, "-B", "-f", str(pom), *goal_args(staging)]
    tail: deque[str] = deque(maxlen=40)
    count = 0
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            match = _DOWNLOADED.match(line)
            if match and on_progress is not None:
                count += 1
                on_progress(count, match.group(1).rsplit("/", 1)[-1])
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadFailedError(
            f"Maven could not fetch the dependencies of {pom} (exit {proc.returncode}). "
            "Check that Maven Central is reachable (or a mirror is set in ~/.m2/settings.xml). "
            "Last lines of Maven's output:\n" + "\n".join(tail)
        )
    (staging / _MARKER).write_text("ok\n")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
