"""API tokens with roles: who may do what.

Tokens come from a YAML file or ``AGENTMESH_GATEWAY_TOKENS``; the file may hold only their
SHA-256, so a leaked config does not leak credentials. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["ROLES", "AuthError", "Identity", "Role", "TokenStore"]

Role = Literal["submitter", "reviewer", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("submitter", "reviewer", "auditor", "admin")


class AuthError(ValueError):
    """The token configuration is unusable (says which entry and why)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: a token's name and roles."""

    name: str
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        # An admin may do everything.
        return role in self.roles or "admin" in self.roles


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    token: str | None = Field(default=None, min_length=16)
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    roles: list[Role] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_secret(self) -> _Entry:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token or token_sha256")
        return self

    def digest(self) -> str:
        if self.token_sha256 is not None:
            return self.token_sha256
        assert self.token is not None
        return _sha(self.token)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Looks a bearer token up; unknown tokens are None."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._by_digest = {e.digest(): Identity(e.name, frozenset(e.roles)) for e in entries}

    @classmethod
    def load(cls, file: Path | None, inline: str | None) -> TokenStore:
        entries: list[_Entry] = []
        try:
            if file is not None:
                raw = yaml.safe_load(file.read_text(encoding="utf-8")) or []
                if isinstance(raw, dict):
                    raw = raw.get("tokens", [])
                entries += [_Entry.model_validate(item) for item in raw]
            for item in (inline or "").split(";"):
                if not item.strip():
                    continue
                name, token, roles = item.strip().split(":", 2)
                entries.append(
                    _Entry.model_validate({"name": name, "token": token, "roles": roles.split("+")})
                )
        except FileNotFoundError:
            raise AuthError(
                f"tokens file {file} does not exist (AGENTMESH_GATEWAY_TOKENS_FILE)"
            ) from None
        except (ValidationError, ValueError, yaml.YAMLError) as exc:
            raise AuthError(f"bad token configuration: {exc}") from None
        if not entries:
            raise AuthError(
                "no API tokens configured: set AGENTMESH_GATEWAY_TOKENS_FILE (YAML list of "
                "{name, token|token_sha256, roles}) or AGENTMESH_GATEWAY_TOKENS "
                "('name:token:role+role;...'); roles: " + ", ".join(ROLES)
            )
        return cls(entries)

    def identify(self, token: str) -> Identity | None:
        digest = _sha(token)
        for known, identity in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return identity
        return None
