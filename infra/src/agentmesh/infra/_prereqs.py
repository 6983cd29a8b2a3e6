"""Checks that Java and Maven are present, with install advice when they are not."""

from __future__ import annotations

import re
import shutil
import subprocess

from agentmesh.infra._errors import PrerequisiteMissingError

__all__ = ["MIN_JAVA", "require_java", "require_maven"]

MIN_JAVA = 17
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def require_java() -> str:
    """Path of a ``java`` of at least version 17, or a clear error."""
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteMissingError(
            "Java was not found on PATH. The local Kafka broker and schema registry run on "
            f"Java {MIN_JAVA}+: install it with `apt-get install openjdk-17-jre-headless` "
            "(Debian/Ubuntu) or `brew install openjdk@17` (macOS), or point "
            "AGENTMESH_KAFKA_BOOTSTRAP and AGENTMESH_SCHEMA_REGISTRY_URL at an existing cluster."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = _JAVA_VERSION.search(out.stderr + out.stdout)
    if match is None:
        raise PrerequisiteMissingError(f"could not read the version of {java}: {out.stderr!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise PrerequisiteMissingError(
            f"{java} is Java {major}; the local cluster needs Java {MIN_JAVA}+. "
            "Install openjdk-17-jre-headless and put it first on PATH."
        )
    return java


def require_maven() -> str:
    """Path of ``mvn``, or a clear error (only needed until the jars are cached)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissingError(
            "Maven (mvn) was not found on PATH. It is needed once, to fetch the Kafka and "
            "schema registry jars from Maven Central: install it with `apt-get install maven` "
            "(Debian/Ubuntu) or `brew install maven` (macOS)."
        )
    return mvn
