"""The gateway: how other systems and people get into the mesh.

An HTTP API (FastAPI, OpenAPI at ``/docs``) to publish tasks, read and cancel them, decide
parked work (signed with Ed25519), pull the kill switch, list dead letters, and follow task
events and the audit trail as Server-Sent Events; a reviewer web page at ``/``.
"""

from agentmesh.gateway._app import create_app
from agentmesh.gateway._auth import ROLES, AuthError, Identity, TokenStore
from agentmesh.gateway._config import GatewayConfig
from agentmesh.gateway._logging import redact_access_log
from agentmesh.gateway._reviews import ReviewItem, ReviewView, shown_hash
from agentmesh.gateway._signing import Signer, signed_bytes, verify_decision
from agentmesh.gateway._streams import parse_positions
from agentmesh.gateway._submit import PayloadRejected, Submitter, UnknownAgent

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
