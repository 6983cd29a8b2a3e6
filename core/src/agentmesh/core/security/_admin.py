"""The admin side of security, through confluent-kafka's AdminClient (aiokafka has no
ACL or SCRAM calls): SCRAM users and ACL bindings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The SCRAM types are re-exported by confluent_kafka.admin at runtime but not in its stubs.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from agentmesh.core.transport import KafkaConnection

__all__ = ["admin_client", "upsert_scram_users"]

_TIMEOUT_S = 30.0


def admin_client(conn: KafkaConnection) -> AdminClient:
    """A confluent-kafka admin client on the same connection settings as aiokafka's."""
    config: dict[str, Any] = {
        "bootstrap.servers": conn.bootstrap,
        "client.id": f"{conn.client_id}-security-admin",
        "security.protocol": conn.security_protocol,
        "log_level": 3,  # errors only: its informational lines would go to our stderr
    }
    if conn.security_protocol.startswith("SASL"):
        config["sasl.mechanism"] = conn.sasl_mechanism
        config["sasl.username"] = conn.sasl_username or ""
        config["sasl.password"] = conn.sasl_password or ""
    if conn.security_protocol.endswith("SSL") and conn.ssl_cafile is not None:
        config["ssl.ca.location"] = str(conn.ssl_cafile)
    return AdminClient(config)


def upsert_scram_users(
    conn: KafkaConnection, users: Mapping[str, str], mechanism: str = "SCRAM-SHA-512"
) -> None:
    """Create or reset SCRAM credentials ``user → password`` (idempotent: same password wins)."""
    if not users:
        return
    mech = (
        ScramMechanism.SCRAM_SHA_512 if mechanism.endswith("512") else ScramMechanism.SCRAM_SHA_256
    )
    info = ScramCredentialInfo(mech, 8192)
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(u, info, p.encode()) for u, p in users.items()
    ]
    # The client must outlive its futures: once it is collected, they fail with _DESTROY.
    client = admin_client(conn)
    futures = client.alter_user_scram_credentials(upserts, request_timeout=_TIMEOUT_S)
    for future in futures.values():
        future.result(timeout=_TIMEOUT_S)
