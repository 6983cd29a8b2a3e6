"""Names of the Kafka headers agentmesh's parts read from each other's messages."""

from __future__ import annotations

__all__ = ["CLAIM_HEADER", "RELEASED_AT_HEADER", "REVIEW_ID_HEADER"]

CLAIM_HEADER = "agentmesh-claim"
"""On a claim-checked message: its value is a ticket to the chunks on ``<ns>.claims``."""

REVIEW_ID_HEADER = "agentmesh-review-id"
"""On released work: the review that released it."""

RELEASED_AT_HEADER = "agentmesh-released-at"
"""On released work: when (ISO 8601); a task pause issued before then does not apply to it."""
