"""Tokens in stream URLs never reach the access log."""

from __future__ import annotations

import logging

import pytest

from agentmesh.gateway import redact_access_log


def test_access_tokens_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redact_access_log()
    log = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        log.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/v1/reviews/stream?access_token=s3cr3t-token&x=1",
            "1.1",
            200,
        )
    assert "s3cr3t" not in caplog.text
    assert "access_token=***&x=1" in caplog.text
