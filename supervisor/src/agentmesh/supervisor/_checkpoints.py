"""Signed checkpoints of the audit chains: the key, what is signed, and when.

A checkpoint is a link of the chain itself (``decision="checkpoint"``), appended by the
chain's one writer right after the record it covers. Its details carry the signed payload:
which chain, the seq and hash of the head it covers, when, and which key signed it. Being
a link, it keeps its place in the partition's order and needs no schema change; being
signed, nobody without the supervisor's private key can write one that verifies, so
records appended by someone else are told apart from the writer's once a checkpoint
disagrees with them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from agentmesh.contracts import key_id, load_public_key, public_pem, write_private_key
from agentmesh.core import Settings

__all__ = [
    "Checkpoint",
    "CheckpointClock",
    "CheckpointSigner",
    "SigningKeyError",
    "create_key_file",
    "key_id",
    "load_public_keys",
    "local_signing_key_path",
    "signing_key",
]

_SIGNED = ("chain", "partition", "seq", "head_sha256", "at", "key_id")


class SigningKeyError(Exception):
    """The configured checkpoint key cannot be used; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed statement: chain ``chain`` had head ``head_sha256`` at ``seq``."""

    chain: str
    partition: int
    seq: int
    head_sha256: str
    at: str
    key_id: str
    signature: str  # base64 Ed25519 signature over signed_bytes()

    def signed_bytes(self) -> bytes:
        data = {name: getattr(self, name) for name in _SIGNED}
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    def to_json(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in _SIGNED}, "signature": self.signature}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """``ValueError`` when ``data`` is not a checkpoint."""
        try:
            return cls(
                chain=str(data["chain"]),
                partition=int(data["partition"]),
                seq=int(data["seq"]),
                head_sha256=str(data["head_sha256"]),
                at=str(data["at"]),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a checkpoint: {exc!r}") from exc

    def check(
        self, keys: Mapping[str, Ed25519PublicKey]
    ) -> Literal["ok", "unknown_key", "bad_signature"]:
        key = keys.get(self.key_id)
        if key is None:
            return "unknown_key"
        try:
            key.verify(base64.b64decode(self.signature, validate=True), self.signed_bytes())
        except (InvalidSignature, binascii.Error, ValueError):
            return "bad_signature"
        return "ok"


class CheckpointSigner:
    """Holds the supervisor's Ed25519 private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        self.public_pem = public_pem(self.public_key)
        self.key_id = key_id(self.public_key)

    @classmethod
    def from_pem(cls, pem: bytes, where: str) -> CheckpointSigner:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{where} is not a readable PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{where} holds a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    def sign(self, chain: str, partition: int, seq: int, head_sha256: str, at: str) -> Checkpoint:
        unsigned = Checkpoint(chain, partition, seq, head_sha256, at, self.key_id, "")
        signature = base64.b64encode(self._key.sign(unsigned.signed_bytes())).decode()
        return Checkpoint(chain, partition, seq, head_sha256, at, self.key_id, signature)


def local_signing_key_path(settings: Settings) -> Path:
    return settings.home / "audit" / "signing-key.pem"


def create_key_file(path: Path) -> CheckpointSigner:
    """A new key in ``path`` (mode 0600) and its public half beside it (``.pub.pem``)."""
    key = Ed25519PrivateKey.generate()
    write_private_key(path, key)
    signer = CheckpointSigner(key)
    path.with_suffix(".pub.pem").write_bytes(signer.public_pem)
    return signer


def _is_local(settings: Settings) -> bool:
    """The local broker, or one on this machine's loopback (tests, `infra up`)."""
    if settings.uses_local_kafka:
        return True
    for server in settings.bootstrap.split(","):
        host = server.strip().rsplit(":", 1)[0].strip("[]")
        if host == "localhost":
            continue
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    return True


def signing_key(settings: Settings, *, create_local: bool = False) -> CheckpointSigner | None:
    """The checkpoint key: the file setting, else the PEM setting, else the local key.

    The local key (``<home>/audit/signing-key.pem``) is made here when ``create_local`` is
    set and the broker is on this machine; for a remote cluster a key must be configured
    (None is returned, and the supervisor refuses to start).
    """
    if settings.audit_signing_key_file is not None:
        path = settings.audit_signing_key_file
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read AGENTMESH_AUDIT_SIGNING_KEY_FILE={path}: {exc.strerror}"
            ) from exc
        return CheckpointSigner.from_pem(pem, str(path))
    if settings.audit_signing_key is not None:
        pem = settings.audit_signing_key.get_secret_value().encode()
        return CheckpointSigner.from_pem(pem, "AGENTMESH_AUDIT_SIGNING_KEY")
    local = local_signing_key_path(settings)
    if local.exists():
        return CheckpointSigner.from_pem(local.read_bytes(), str(local))
    if create_local and _is_local(settings):
        return create_key_file(local)
    return None


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """Public keys (PEM files) by key id; ``SigningKeyError`` naming a file that is not one."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            key = load_public_key(path.read_bytes())
        except OSError as exc:
            raise SigningKeyError(f"cannot read public key {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise SigningKeyError(
                f"{path} is not an Ed25519 public key in PEM form ({exc}); give the "
                "public half (signing-key.pub.pem), not the private key"
            ) from exc
        keys[key_id(key)] = key
    return keys


@dataclass(slots=True)
class CheckpointClock:
    """When one chain is due for a checkpoint: after ``every_records`` new records or
    ``every_s`` seconds since the first unsigned one, whichever comes first; never while
    nothing new was written."""

    every_records: int
    every_s: float
    unsigned: int = 0
    since: float | None = None

    def wrote(self, now: float | None = None) -> None:
        self.unsigned += 1
        if self.since is None:
            self.since = time.monotonic() if now is None else now

    def due(self, now: float | None = None) -> bool:
        if self.unsigned == 0 or self.since is None:
            return False
        now = time.monotonic() if now is None else now
        return self.unsigned >= self.every_records or now - self.since >= self.every_s

    def signed(self) -> None:
        self.unsigned = 0
        self.since = None
