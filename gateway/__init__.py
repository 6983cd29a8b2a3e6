"""The gateway: how other systems and people get into the mesh.

An HTTP API (FastAPI, OpenAPI at ``/docs``) to publish tasks, read and cancel them, decide
parked work (signed with Ed25519), pull the kill switch, list dead letters, and follow task
events and the audit trail as Server-Sent Events; a reviewer web page at ``/``.
"""

from gateway._app import create_app
from gateway._auth import ROLES, AuthError, Identity, TokenStore
from gateway._config import GatewayConfig
from gateway._logging import redact_access_log
from gateway._reviews import ReviewItem, ReviewView, shown_hash
from gateway._signing import Signer, signed_bytes, verify_decision
from gateway._streams import parse_positions
from gateway._submit import PayloadRejected, Submitter, UnknownAgent

__all__ = [
    "ROLES",
    "AuthError",
    "GatewayConfig",
    "Identity",
    "PayloadRejected",
    "ReviewItem",
    "ReviewView",
    "Signer",
    "Submitter",
    "TokenStore",
    "UnknownAgent",
    "create_app",
    "parse_positions",
    "redact_access_log",
    "shown_hash",
    "signed_bytes",
    "verify_decision",
]
