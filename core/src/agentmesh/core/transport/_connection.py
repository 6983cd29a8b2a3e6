"""How to reach the cluster: address, identity and security, nothing about behaviour."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmesh.core._settings import Settings

__all__ = ["KafkaConnection"]


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the cluster is and how to authenticate to it."""

    bootstrap: str
    client_id: str = "agentmesh"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConnection:
        """The connection described by agentmesh's settings."""
        password = settings.kafka_sasl_password
        return cls(
            bootstrap=settings.bootstrap,
            client_id=settings.client_id,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=password.get_secret_value() if password else None,
            ssl_cafile=settings.kafka_ssl_cafile,
        )

    def client_kwargs(self, client_suffix: str = "") -> dict[str, Any]:
        """Keyword arguments every aiokafka client gets."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "client_id": f"{self.client_id}-{client_suffix}" if client_suffix else self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        if self.security_protocol.endswith("SSL"):
            kwargs["ssl_context"] = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
        return kwargs
