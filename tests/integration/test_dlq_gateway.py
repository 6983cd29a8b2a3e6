"""Dead letters over the gateway (roles: auditors read, only admins redrive) and in the audit
trail, against the real broker, an in-process agent and a real supervisor."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from agentmesh.contracts import AuditRecord, Topics
from agentmesh.core import Settings
from tests.gateway_helpers import TOKENS, auth, serving
from tests.integration.test_dlq import (
    ONE_PARTITION,
    RUNS,
    Job,
    cli,
    mesh,
    outcomes,
)
from tests.runtime_helpers import dead_letters, running, send_handoffs
from tests.supervisor_helpers import SupervisorProcess, decoded

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def _fresh_runs() -> None:
    RUNS.clear()


async def test_auditors_read_dead_letters_and_only_admins_redrive_them(
    settings: Settings, tmp_path: Path
) -> None:
    fixed = {"reason": "typo in the job", "edited_payload": {"text": "fixed"}}
    async with (
        running(mesh, ["fixer"], settings, ONE_PARTITION),
        serving(settings, tmp_path) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        await send_handoffs(settings, mesh, "fixer", [Job(text="poison")], ["t1"])
        (letter,) = await dead_letters(settings, 1, timeout=20)
        path = f"/v1/dlq/{letter.dead_letter_id}"
        reads = {who: await http.get(path, headers=auth(who)) for who in ("sam", "ada", "root")}
        missing = await http.get("/v1/dlq/0:999", headers=auth("ada"))
        denied = {
            who: await http.post(f"{path}/redrive", json=fixed, headers=auth(who))
            for who in ("sam", "rita", "ada")
        }
        misfit = await http.post(
            f"{path}/redrive",
            json={"reason": "r", "edited_payload": {"txt": 1}},
            headers=auth("root"),
        )
        done = [
            await http.post(f"{path}/redrive", json=fixed, headers=auth("root")) for _ in (1, 2)
        ]
        many = await http.post(
            "/v1/dlq/redrive",
            json={"ids": [letter.dead_letter_id, "nope"], "reason": "once more"},
            headers=auth("root"),
        )
        await send_handoffs(settings, mesh, "fixer", [Job(text="sentinel")], ["t2"])
        seen = await outcomes(settings, 6)
    assert {w: r.status_code for w, r in reads.items()} == {"sam": 403, "ada": 200, "root": 200}
    shown = reads["ada"].json()
    assert (shown["id"], shown["stage"], shown["handoff"]["payload"]) == (
        letter.dead_letter_id,
        "handler",
        {"text": "poison"},
    )
    assert missing.status_code == 404
    assert {w: r.status_code for w, r in denied.items()} == {"sam": 403, "rita": 403, "ada": 403}
    assert misfit.status_code == 422, misfit.text
    assert misfit.json()["field"] == "edited_payload"
    assert [r.status_code for r in done] == [200, 200]
    key = f"redrive:{letter.dead_letter_id}"
    assert [r.json()["idempotency_key"] for r in done] == [key, key]
    assert many.status_code == 200
    assert [o["ok"] for o in many.json()] == [True, False]
    # Three redrives written, one run.
    assert RUNS == ["poison", "fixed", "sentinel"]
    assert seen["t1"][-2:] == ["task_completed", "step_finished:result"]


async def test_a_redrive_is_appended_to_the_audit_trail(settings: Settings, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets:\n  default: {}\n")
    supervisor = SupervisorProcess(settings, policy, tmp_path).start()
    await supervisor.wait_ready()
    async with running(mesh, ["fixer"], settings, ONE_PARTITION):
        await send_handoffs(settings, mesh, "fixer", [Job(text="poison")], ["t1"])
        (letter,) = await dead_letters(settings, 1, timeout=20)
        code, out, err = await cli(
            settings,
            "dlq",
            "redrive",
            letter.dead_letter_id,
            "--edit",
            '{"text": "fixed"}',
            "--reason",
            "typo",
            "--by",
            "ops",
            "--json",
        )
        seen = await outcomes(settings, 4)
        records = await decoded(settings, Topics(settings.namespace).audit, AuditRecord, None, 20)
    supervisor.kill9()
    assert code == 0, (out, err)
    (written,) = orjson.loads(out)
    assert written["audited"] is True
    redriven = [r for r in records if r.decision == "dead_letter_redriven"]
    assert [(r.actor, r.subject, r.task_id) for r in redriven] == [
        ("ops", letter.dead_letter_id, "t1")
    ]
    details = orjson.loads(redriven[0].details_json)
    assert (details["reason"], details["redrive_count"], details["edited"]) == ("typo", 1, True)
    # The supervisor lets the redriven work of a failed task run to the end.
    assert RUNS == ["poison", "fixed"]
    assert seen["t1"][-2:] == ["task_completed", "step_finished:result"]
    assert details["to"] == f"{written['topic']}@{written['partition']}:{written['offset']}"


async def test_the_cli_over_the_gateway_reads_as_an_auditor_and_redrives_as_an_admin(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        running(mesh, ["fixer"], settings, ONE_PARTITION),
        serving(settings, tmp_path) as url,
    ):
        await send_handoffs(settings, mesh, "fixer", [Job(text="poison")], ["t1"])
        (letter,) = await dead_letters(settings, 1, timeout=20)
        ident = letter.dead_letter_id
        as_ada = ("--gateway", url, "--token", TOKENS["ada"], "--json")
        as_root = ("--gateway", url, "--token", TOKENS["root"], "--json")
        listed = await cli(settings, "dlq", "list", *as_ada)
        shown = await cli(settings, "dlq", "show", ident, *as_ada)
        edit = ("--edit", '{"text": "fixed"}', "--reason", "typo")
        denied = await cli(settings, "dlq", "redrive", ident, *edit, *as_ada)
        done = await cli(settings, "dlq", "redrive", ident, *edit, *as_root)
        seen = await outcomes(settings, 4)
    assert [(d["id"], d["stage"], d["redrive_count"]) for d in orjson.loads(listed[1])] == [
        (ident, "handler", 0)
    ]
    assert orjson.loads(shown[1])["handoff"]["payload"] == {"text": "poison"}
    assert denied[0] == 1
    assert "403" in denied[1] or "may not" in denied[1]
    assert done[0] == 0, done
    (written,) = orjson.loads(done[1])
    assert (written["ok"], written["idempotency_key"]) == (True, f"redrive:{ident}")
    assert RUNS == ["poison", "fixed"]
    assert seen["t1"][-2:] == ["task_completed", "step_finished:result"]
