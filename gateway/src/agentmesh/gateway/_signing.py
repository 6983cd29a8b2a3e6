"""Ed25519 signatures over review decisions, so consumers can check nobody swapped one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentmesh.contracts import ReviewDecision, signed_bytes, verify_decision

__all__ = ["Signer", "signed_bytes", "verify_decision"]


class Signer:
    """Holds the gateway's private key; ``key_id`` is the public key's SHA-256 prefix."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key in ``path``; a new one (mode 0600) if the file does not exist yet."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
        return cls(key)

    def sign(self, decision: ReviewDecision) -> ReviewDecision:
        stamped = decision.model_copy(update={"key_id": self.key_id, "signature": None})
        return stamped.model_copy(update={"signature": self._key.sign(signed_bytes(stamped))})
