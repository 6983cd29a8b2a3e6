"""Per-process Kafka credentials as environment files (local use) and SCRAM users.

A process is told who it is by its settings (``AGENTMESH_KAFKA_SASL_USERNAME`` /
``..._PASSWORD``). For the local secure broker those are written to one ``.env`` file per
principal, readable by its owner only, so ``set -a; . researcher.env; set +a`` (or
``docker run --env-file``) gives a process exactly one identity.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcessCredentials",
    "credentials_from_env",
    "new_password",
    "read_env_file",
    "write_env_file",
]


def new_password() -> str:
    """A fresh random password (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ProcessCredentials:
    """Everything one process needs to connect to a SASL cluster as one principal."""

    bootstrap: str
    username: str
    password: str
    mechanism: str = "SCRAM-SHA-512"
    security_protocol: str = "SASL_PLAINTEXT"

    def env(self) -> dict[str, str]:
        """The ``AGENTMESH_*`` variables that select this identity."""
        return {
            "AGENTMESH_KAFKA_BOOTSTRAP": self.bootstrap,
            "AGENTMESH_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "AGENTMESH_KAFKA_SASL_MECHANISM": self.mechanism,
            "AGENTMESH_KAFKA_SASL_USERNAME": self.username,
            "AGENTMESH_KAFKA_SASL_PASSWORD": self.password,
        }


def write_env_file(path: Path, creds: ProcessCredentials) -> None:
    """Write ``creds`` as ``KEY=value`` lines, mode 0600 from the start (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = "".join(f"{key}={value}\n" for key, value in creds.env().items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body)
    path.chmod(0o600)  # an existing file keeps its old mode through os.open


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` pairs of an env file written by :func:`write_env_file`."""
    pairs: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            pairs[key.strip()] = value
    return pairs


def credentials_from_env(values: Mapping[str, str]) -> ProcessCredentials:
    """The inverse of :meth:`ProcessCredentials.env`."""
    return ProcessCredentials(
        bootstrap=values["AGENTMESH_KAFKA_BOOTSTRAP"],
        username=values["AGENTMESH_KAFKA_SASL_USERNAME"],
        password=values["AGENTMESH_KAFKA_SASL_PASSWORD"],
        mechanism=values["AGENTMESH_KAFKA_SASL_MECHANISM"],
        security_protocol=values["AGENTMESH_KAFKA_SECURITY_PROTOCOL"],
    )
