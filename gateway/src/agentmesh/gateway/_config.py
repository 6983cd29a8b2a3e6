"""The gateway's own settings (``AGENTMESH_GATEWAY_*``), beside the mesh-wide ones."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewayConfig"]


class GatewayConfig(BaseSettings):
    """Who may call the gateway, how decisions are signed, how big a request may be."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTMESH_GATEWAY_", env_file=".env", extra="ignore"
    )

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535)
    tokens_file: Path | None = Field(
        default=None,
        description="YAML file of API tokens: a list of {name, token or token_sha256, roles}.",
    )
    tokens: str | None = Field(
        default=None,
        description="Inline tokens, 'name:token:role+role;...' (for tests and small setups).",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs review decisions. Unset: one is "
        "created under AGENTMESH_HOME/gateway and reused.",
    )
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="Larger requests get 413.")
