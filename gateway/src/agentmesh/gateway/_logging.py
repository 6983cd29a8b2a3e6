"""Keeping secrets out of the access log: stream URLs carry the token as a parameter."""

from __future__ import annotations

import logging
import re

__all__ = ["redact_access_log"]

_TOKEN = re.compile(r"(access_token=)[^&\s]+")


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def redact_access_log() -> None:
    """Replace ``access_token=...`` in uvicorn's access log lines with ``***``."""
    logging.getLogger("uvicorn.access").addFilter(_Redact())
