"""`agentmesh contracts register` against the real registry: every subject, idempotently."""

import os
import subprocess
import sys

import orjson
import pytest

from agentmesh.core import Settings

pytestmark = pytest.mark.kafka


def register(settings: Settings) -> dict[str, int]:
    env = {
        **os.environ,
        "AGENTMESH_KAFKA_BOOTSTRAP": settings.bootstrap,
        "AGENTMESH_SCHEMA_REGISTRY_URL": settings.registry_url,
        "AGENTMESH_NAMESPACE": settings.namespace,
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentmesh.cli",
            "contracts",
            "register",
            "--app",
            "tests.apps.pipeline:mesh",
            "--json",
        ],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    subjects: dict[str, int] = orjson.loads(out.stdout)["subjects"]
    return subjects


def test_register_covers_every_topic_and_is_idempotent(settings: Settings) -> None:
    first = register(settings)
    ns = settings.namespace
    assert sorted(first) == sorted(
        f"{ns}.{t}-value"
        for t in [
            "tasks",
            "events",
            "control",
            "review.requests",
            "review.decisions",
            "dlq",
            "audit",
            "claims",
            "recordings",
            "agent.planner",
            "agent.worker",
            "agent.collector",
        ]
    )
    assert register(settings) == first
