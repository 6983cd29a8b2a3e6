"""Names of the Kafka headers agentmesh's parts read from each other's messages."""

from __future__ import annotations

__all__ = [
    "CLAIM_HEADER",
    "REDRIVE_BY_HEADER",
    "REDRIVE_COUNT_HEADER",
    "REDRIVE_FROM_HEADER",
    "REDRIVE_OF_HEADER",
    "REDRIVE_REASON_HEADER",
    "RELEASED_AT_HEADER",
    "REVIEW_ID_HEADER",
]

CLAIM_HEADER = "agentmesh-claim"
"""On a claim-checked message: its value is a ticket to the chunks on ``<ns>.claims``."""

REVIEW_ID_HEADER = "agentmesh-review-id"
"""On released work: the review that released it."""

RELEASED_AT_HEADER = "agentmesh-released-at"
"""On released work: when (ISO 8601); a task pause issued before then does not apply to it."""

REDRIVE_OF_HEADER = "agentmesh-redrive-of"
"""On redriven work: the ``dead_letter_id`` of the dead letter it was redriven from."""

REDRIVE_FROM_HEADER = "agentmesh-redrive-from"
"""On redriven work: where that dead letter is, ``<dlq topic>@<partition>:<offset>``."""

REDRIVE_BY_HEADER = "agentmesh-redrive-by"
"""On redriven work: who redrove it."""

REDRIVE_REASON_HEADER = "agentmesh-redrive-reason"
"""On redriven work: why (UTF-8)."""

REDRIVE_COUNT_HEADER = "agentmesh-redrive-count"
"""On redriven work: how many times this work has been redriven (ASCII digits). A dead letter
keeps its input's headers, so the count travels back to the DLQ when the work fails again."""
