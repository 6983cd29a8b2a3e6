"""The faust pieces the supervisor is made of: the app, its settings, tables of models."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import Any

import faust
from pydantic import BaseModel

from agentmesh.core import Settings
from agentmesh.supervisor import _faust_overrides

__all__ = ["new_app", "table"]


def new_app(
    settings: Settings, app_id: str, *, partitions: int, replication_factor: int
) -> faust.App:
    """A faust app on agentmesh's connection settings, reading committed data only."""
    s = settings
    data = Path(tempfile.gettempdir()) / "agentmesh"
    data.mkdir(exist_ok=True)  # faust makes only the last level
    brokers = ";".join(f"{_faust_overrides.SCHEME}://{b}" for b in s.bootstrap.split(","))
    return faust.App(
        app_id,
        broker=brokers,
        broker_client_id=f"{s.client_id}.supervisor",
        store="memory://",
        # Tables live in memory (rebuilt from their changelogs); faust still writes a marker
        # file in its data dir: under the temp dir, not the working directory, which a
        # container's read-only root file system does not let it write.
        datadir=str(data / "{conf.id}-data"),
        web_enabled=False,
        topic_partitions=partitions,
        topic_replication_factor=replication_factor,
        topic_allow_declare=True,
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=5,
        # A supervisor killed with -9 holds its partitions until its session expires:
        # keep that short so a replacement takes over within seconds.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        broker_credentials=_credentials(s),
    )


def table(app: faust.App, name: str, codec: str, model: type[BaseModel]) -> Any:
    """A table whose values are pydantic models, kept as objects and logged as JSON."""
    table: Any = app.Table(name)
    # faust derives the serializer from a faust Record value type; ours are pydantic models.
    table.value_serializer = codec
    _faust_overrides.model_values(table, model)
    return table


def _credentials(settings: Settings) -> Any:
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        password = settings.kafka_sasl_password
        ssl_context = None
        if settings.kafka_security_protocol == "SASL_SSL":
            ssl_context = ssl.create_default_context(
                cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
            )
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl_context,
        )
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(
            ssl.create_default_context(
                cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
            )
        )
    return None
