"""All of agentmesh's configuration in one typed place.

Every field can be set from the environment with the ``AGENTMESH_`` prefix
(``AGENTMESH_KAFKA_BOOTSTRAP``, ``AGENTMESH_NAMESPACE``, ...) or from a ``.env``
file in the working directory. Nothing else in the code base reads ``os.environ``
for agentmesh settings.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


class Settings(BaseSettings):
    """Configuration of every agentmesh process.

    When ``kafka_bootstrap`` is set, agentmesh talks to that cluster and starts no broker
    of its own; likewise ``schema_registry_url`` for the registry. When they are unset,
    the local development infrastructure (``agentmesh infra up``) is used on the ports below.
    """

    model_config = SettingsConfigDict(
        env_prefix="AGENTMESH_", env_file=".env", extra="ignore", frozen=True
    )

    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers (host:port,...). Unset: local broker."
    )
    schema_registry_url: str | None = Field(
        default=None,
        description="Confluent-compatible schema registry API base URL. Unset: local registry.",
    )
    namespace: str = Field(default="agentmesh", description="Prefix of every agentmesh topic.")
    app: str | None = Field(
        default=None, description="The mesh to run, as 'package.module:attribute'."
    )
    prompts: str | None = Field(
        default=None,
        description="Prompt pins, 'name=label-or-hash,...' (e.g. writer=v1); unset: current.",
    )
    llm: str | None = Field(
        default=None,
        description="Model for every agent: openai:<model>, anthropic:<model>, scripted, or a "
        "comma-separated fallback chain. Unset: each agent's or the mesh's own model.",
    )
    policy: Path | None = Field(
        default=None,
        description="Governance policy file (YAML): budgets, breakers, loops, review rules. "
        "Unset: defaults (no limits beyond each task's own, no review rules).",
    )
    client_id: str = Field(default="agentmesh", description="Kafka client.id prefix.")
    topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of the topics agentmesh creates (inboxes, events, tasks, "
        "reviews, ...; an existing events topic's count wins, since everything keyed by task "
        "id must match it). At most this many replicas of one agent do work.",
    )
    topic_replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replication of topics agentmesh creates. Unset: 3, or fewer brokers if fewer.",
    )

    # Security of the Kafka connection (a managed cluster); the local broker is PLAINTEXT.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None

    # Operating a process: probes, metrics and shutdown.
    probe_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the HTTP server of `run agent` and `run supervisor` serving "
        "/healthz, /readyz and /metrics (the gateway serves them on its own port). "
        "Unset: no server; 0: any free port.",
    )
    # Every interface: the server exists only when a port is set, which is for an orchestrator
    # (kubelet, Docker) that probes from outside the container.
    probe_host: str = Field(
        default="0.0.0.0",  # noqa: S104
        description="Address the probe server binds.",
    )
    drain_grace_s: float = Field(
        default=30.0,
        gt=0,
        le=110,
        description="After SIGTERM, how long a process may finish the work in flight before "
        "it stops anyway; below the transaction timeout (120 s), so a drained transaction "
        "commits or aborts, never times out. Give the orchestrator a longer grace period.",
    )

    # Topics: how long each kind keeps its records (the audit trail's retention is the
    # policy's, never under 400 days; docs/security.md).
    events_retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000,
        ge=-1,
        description="Retention of <ns>.events (milliseconds, -1: forever). Default 7 days.",
    )
    review_retention_ms: int = Field(
        default=30 * 24 * 3600 * 1000,
        ge=-1,
        description="Retention of the review topics (milliseconds, -1: forever). Default 30 days.",
    )
    dlq_retention_ms: int = Field(
        default=30 * 24 * 3600 * 1000,
        ge=-1,
        description="Retention of <ns>.dlq (milliseconds, -1: forever). Default 30 days.",
    )

    # Signed audit checkpoints (docs/security.md).
    audit_signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) the supervisor signs audit checkpoints with. "
        "Unset: AGENTMESH_AUDIT_SIGNING_KEY, else <home>/audit/signing-key.pem "
        "(created by `agentmesh infra up`, for local use).",
    )
    audit_signing_key: SecretStr | None = Field(
        default=None, description="The checkpoint signing key's PEM itself (from a secret)."
    )
    audit_checkpoint_records: int = Field(
        default=1000, ge=1, description="Sign a checkpoint after this many audit records..."
    )
    audit_checkpoint_interval_s: float = Field(
        default=60.0, gt=0, description="...or after this long, whichever comes first."
    )

    # Local development infrastructure (used only when the URLs above are unset).
    home: Path = Field(
        default=Path.home() / ".cache" / "agentmesh",
        description="Cache of downloaded jars; also holds the local cluster's data by default.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Data, logs and pid files of the local cluster. Unset: <home>/local.",
    )
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    registry_port: int = Field(default=18081, ge=1, le=65535)
    # `agentmesh infra up --secure`: a second, SASL/SCRAM + ACL broker beside the plaintext one.
    kafka_secure_port: int = Field(default=19094, ge=1, le=65535)
    kafka_secure_controller_port: int = Field(default=19095, ge=1, le=65535)
    startup_timeout_s: float = Field(default=180.0, gt=0)

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str) -> str:
        if not _NAMESPACE.match(value):
            raise ValueError(
                "namespace must start with a letter or digit and contain only letters, "
                "digits, '.', '_' or '-' (it prefixes Kafka topic names)"
            )
        return value

    @property
    def uses_local_kafka(self) -> bool:
        """True when no external cluster is configured and the local broker is used."""
        return self.kafka_bootstrap is None

    @property
    def uses_local_registry(self) -> bool:
        """True when no external registry is configured and the local one is used."""
        return self.schema_registry_url is None

    @property
    def local_dir(self) -> Path:
        """Where the local cluster keeps its data, logs and pid files."""
        return self.data_dir or self.home / "local"

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap address in effect."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def replication_factor(self) -> int | None:
        """Replication for new topics; None: min(3, brokers), decided when creating."""
        return self.topic_replication_factor

    @property
    def registry_url(self) -> str:
        """The schema registry base URL (Confluent API) in effect."""
        if self.schema_registry_url:
            return self.schema_registry_url.rstrip("/")
        return f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
