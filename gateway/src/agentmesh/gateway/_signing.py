"""Ed25519 signatures over review decisions, so consumers can check nobody swapped one."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentmesh.contracts import (
    ReviewDecision,
    key_id,
    public_pem,
    signed_bytes,
    verify_decision,
    write_private_key,
)

__all__ = ["Signer", "signed_bytes", "verify_decision"]


class Signer:
    """Holds the gateway's private key; ``key_id`` is the public key's SHA-256 prefix."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_pem = public_pem(key.public_key())
        self.key_id = key_id(key.public_key())

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key in ``path``; a new one (mode 0600) if the file does not exist yet."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        write_private_key(path, key)
        return cls(key)

    def sign(self, decision: ReviewDecision) -> ReviewDecision:
        stamped = decision.model_copy(update={"key_id": self.key_id, "signature": None})
        return stamped.model_copy(update={"signature": self._key.sign(signed_bytes(stamped))})
