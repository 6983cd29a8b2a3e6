"""Topics as the catalog says, on the real broker: `agentmesh topics check | apply` as a
person runs them, and a supervisor that will not run on an audit trail that would expire."""

from __future__ import annotations

import asyncio
import sys

import orjson
import pytest

from agentmesh.contracts import Topics
from agentmesh.core import Settings
from agentmesh.core.topics import describe_topics, resolve_replication_factor
from agentmesh.core.transport import KafkaConnection, TopicSpec, ensure_topics, make_admin
from tests.integration.test_cli_review_tail import _env, cli

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

APP = "tests.apps.pipeline:mesh"
WEEK_MS = str(7 * 86_400_000)


async def _supervisor(settings: Settings) -> tuple[int, str]:
    """`agentmesh run supervisor` to its end (it is expected to refuse): (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agentmesh.cli", "run", "supervisor",
        env=_env(settings), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the supervisor started on an audit topic that expires") from None
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def _namespace_topics(conn: KafkaConnection, namespace: str) -> list[str]:
    admin = make_admin(conn)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(f"{namespace}."))
    finally:
        await admin.close()


async def test_a_week_long_audit_topic_is_found_refused_and_fixed(
    settings: Settings, conn: KafkaConnection
) -> None:
    audit = Topics(settings.namespace).audit
    await ensure_topics(conn, [TopicSpec(audit, 2, config={"retention.ms": WEEK_MS})])

    code, out, err = await cli(settings, "topics", "check", "--app", APP, "--json")
    assert code == 1, err
    report = orjson.loads(out)
    on_audit = [d for d in report["differences"] if d["topic"] == audit]
    assert [(d["key"], d["expected"], d["actual"]) for d in on_audit] == [
        ("retention.ms", "-1", WEEK_MS)
    ]
    assert f"--entity-name {audit} --add-config retention.ms=-1" in on_audit[0]["fix"]
    missing = {d["topic"] for d in report["differences"] if d["kind"] == "missing"}
    assert f"{settings.namespace}.agent.planner.journal" in missing

    code, err = await _supervisor(settings)
    assert code == 1
    assert f"refusing to start: the audit topic {audit} would lose records" in err
    assert "for 7 days (retention.ms=604800000" in err
    assert "agentmesh topics apply" in err

    code, out, err = await cli(settings, "topics", "apply", "--app", APP, "--json")
    assert code == 0, err
    applied = orjson.loads(out)
    assert applied["altered"][audit]["retention.ms"] == "-1"
    code, out, err = await cli(settings, "topics", "check", "--app", APP, "--json")
    assert (code, orjson.loads(out)["differences"]) == (0, []), err
    code, out, err = await cli(settings, "topics", "apply", "--app", APP, "--json")
    assert (orjson.loads(out)["created"], orjson.loads(out)["altered"]) == ([], {})

    # Every topic the supervisor and `apply` made carries its own min.insync.replicas (not
    # the broker's default; the audit topic was made above, by hand, without it), and the
    # audit topic kept its partitions.
    rf = await resolve_replication_factor(conn, settings)
    names = [n for n in await _namespace_topics(conn, settings.namespace) if n != audit]
    found = await describe_topics(conn, [*names, audit])
    assert len(names) >= 20
    assert {n: found[n].overrides.get("min.insync.replicas") for n in names} == {
        n: str(min(2, rf)) for n in names
    }
    assert (found[audit].partitions, found[audit].overrides["retention.ms"]) == (2, "-1")


async def test_check_in_text_names_the_difference_and_the_fix(
    settings: Settings, conn: KafkaConnection
) -> None:
    events = Topics(settings.namespace).events
    await ensure_topics(conn, [TopicSpec(events, 3, config={"retention.ms": "1000"})])
    code, out, err = await cli(settings, "topics", "check")
    assert code == 1, err
    assert events in out
    assert "per-agent topics are left out" in err
    assert "fix them all with: agentmesh topics apply" in " ".join(out.split())
