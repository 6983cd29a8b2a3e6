"""Ed25519 keys as the mesh keeps them, and what a review decision's signature covers.

The gateway signs the decisions people make; the supervisor (when its policy names trusted
keys) and any auditor check them, so a decision written to the topic by someone else, or
altered on the way, does not count. The supervisor signs its audit checkpoints with a key of
its own, kept the same way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agentmesh.contracts._review import ReviewDecision

__all__ = [
    "key_id",
    "load_public_key",
    "public_pem",
    "signed_bytes",
    "verify_decision",
    "write_private_key",
]

_SIGNED_FIELDS = (
    "decision_id",
    "review_id",
    "task_id",
    "decision",
    "reviewer",
    "reason",
    "decided_at",
    "edited_payload_json",
    "shown_sha256",
    "key_id",
)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A key's short name: the first 16 hex digits of the SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """The public key as PEM (SubjectPublicKeyInfo), as verifiers load it."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """``key`` as unencrypted PKCS#8 PEM in a new file ``path`` readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)  # the mode is set before the secret is written
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def signed_bytes(decision: ReviewDecision) -> bytes:
    """The canonical bytes a decision's signature covers (every field but the signature)."""
    data = decision.model_dump(mode="json", include=set(_SIGNED_FIELDS))
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key in ``pem``; ``ValueError`` saying so when it is not one."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key but {type(key).__name__}")  # noqa: TRY004 - bad input, not a bug
    return key


def verify_decision(decision: ReviewDecision, public_key: bytes | Ed25519PublicKey) -> bool:
    """True if ``decision`` carries a valid signature by ``public_key`` (PEM or loaded)."""
    key = load_public_key(public_key) if isinstance(public_key, bytes) else public_key
    if decision.signature is None:
        return False
    try:
        key.verify(decision.signature, signed_bytes(decision))
    except InvalidSignature:
        return False
    return True
