"""The operations overview end to end in headless Chromium: a runaway task stopped at its
budget shows as a live task with its steps bar over the limit, a failing tool's breaker shows
open, spend shows per tenant, all arriving live over SSE on the open page; a task's row opens
its waterfall. Screenshots are checked to be rendered pages, not blank ones."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Request, async_playwright, expect

from agentmesh.core import Settings
from tests.apps import governed
from tests.gateway_helpers import TOKENS, auth, serving
from tests.integration.test_reviewer_page import CHROMIUM, CHROMIUM_ARGS, _decode_png
from tests.runtime_helpers import running, wait_for
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]

POLICY = """
budgets:
  default: {max_steps: 3}
breakers: {window_s: 60, min_calls: 3, failure_rate: 0.5, cooldown_s: 600}
"""


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium (apt-get install chromium)"
)
async def test_the_operations_overview_follows_tasks_breakers_and_spend_live(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "lookup-down"
    flag.touch()
    monkeypatch.setenv("GOVERNED_FAIL_FLAG", str(flag))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    s = settings.model_copy(update={"policy": policy})
    supervisor = SupervisorProcess(s, policy, tmp_path).start()
    try:
        async with (
            running(governed.mesh, ["looper", "fetcher"], s),
            serving(s, tmp_path) as url,
            httpx.AsyncClient(base_url=url, timeout=15) as api,
            async_playwright() as pw,
        ):
            await wait_for(lambda: _ready(api), timeout=30)
            await supervisor.wait_ready()
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = await browser.new_page(viewport={"width": 1200, "height": 1400})
            try:
                overview_loads: list[str] = []

                def note(request: Request) -> None:
                    if "/v1/ops/overview" in request.url:
                        overview_loads.append(request.url)

                page.on("request", note)
                await page.goto(f"{url}/")
                await page.get_by_label("API token").fill(TOKENS["root"])
                await page.get_by_test_id("token-submit").click()
                ops = page.get_by_test_id("ops")
                await expect(ops).to_be_visible()
                await expect(page.get_by_test_id("ops-no-tasks")).to_be_visible()
                await expect(page.get_by_test_id("ops-no-breakers")).to_be_visible()
                assert len(overview_loads) == 1

                # A runaway task of tenant acme: stopped at 3 steps and parked for a person.
                runaway = await _submit(api, "looper", {"n": 0}, "acme")
                row = page.locator(f'[data-testid="ops-task"][data-task-id="{runaway}"]')
                await expect(row).to_have_attribute("data-status", "parked", timeout=60_000)
                await expect(row).to_contain_text("parked for review (budget)")
                steps = row.get_by_test_id("ops-bar-steps")
                await expect(steps).to_have_class("meter over")
                assert float(await steps.get_attribute("data-share") or 0) >= 1.0
                await expect(row).to_contain_text("acme · looper")
                await expect(row).to_contain_text("/ 3 steps")
                await expect(page.get_by_test_id("ops-live")).to_have_text("1")

                # The lookup backend is down: tenant beta's tasks fail and trip its breaker.
                for i in range(4):
                    await _submit(api, "fetcher", {"key": f"k{i}"}, "beta")
                breaker = page.locator('[data-testid="ops-breaker"][data-key="tool:lookup"]')
                await expect(breaker).to_have_attribute("data-state", "open", timeout=60_000)
                await expect(breaker).to_contain_text("open")
                await expect(page.get_by_test_id("ops-failed")).not_to_have_text("0")

                # Spend: the looper's paid calls, charted for acme.
                acme = page.locator('[data-testid="ops-tenant"][data-tenant="acme"]')
                await expect(acme).to_contain_text("acme: 0.0000")
                bars = page.locator('[data-testid="ops-spend-bar"][data-tenant="acme"]')
                assert await bars.count()
                # Everything above came over the stream: the overview was loaded once.
                assert len(overview_loads) == 1, overview_loads

                overview = (await api.get("/v1/ops/overview", headers=auth("rita"))).json()
                (live,) = [t for t in overview["tasks"] if t["task_id"] == runaway]
                assert live["steps"]["limit"] == "3"
                assert live["parked"] == "budget"
                assert any(float(v) > 0 for v in overview["spend"]["tenants"]["acme"])
                assert (await api.get("/v1/ops/overview", headers=auth("sam"))).status_code == 403

                shot = tmp_path / "ops.png"
                await ops.screenshot(path=str(shot))
                _assert_rendered(shot.read_bytes())

                # The row opens the task's story: its steps as a waterfall.
                await row.get_by_test_id("ops-open-story").click()
                await expect(page.get_by_test_id("story-step").first).to_be_visible(timeout=30_000)
                assert await page.get_by_test_id("story-step").count() >= 3
                await page.screenshot(path=str(tmp_path / "ops-page.png"), full_page=True)
            except BaseException:
                await page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"the page when the test failed: {tmp_path / 'failure.png'}")
                raise
            finally:
                await browser.close()  # before the gateway stops: it waits for open streams
    finally:
        supervisor.terminate()


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/readyz")).status_code == 200


async def _submit(api: httpx.AsyncClient, agent: str, payload: dict[str, Any], tenant: str) -> str:
    r = await api.post(
        "/v1/tasks",
        json={"agent": agent, "input": payload, "tenant": tenant},
        headers=auth("sam"),
    )
    assert r.status_code == 202, r.text
    task_id: str = r.json()["task_id"]
    return task_id


def _assert_rendered(png: bytes) -> None:
    """The section's screenshot is a rendered overview: many colours, the red of a bar over
    its limit and of the open breaker's badge, and the blue of the spend chart."""
    _, _, pixels = _decode_png(png)
    colours = Counter(p[:3] for p in pixels)
    assert len(colours) > 100, f"only {len(colours)} colours: a blank or flat image"

    def near(rgb: tuple[int, int, int]) -> int:
        return sum(n for c, n in colours.items() if max(abs(c[k] - rgb[k]) for k in range(3)) <= 6)

    assert near((0xB3, 0x26, 0x1E)) > 50, "no red: the over-budget bar or open breaker is missing"
    assert near((0x1F, 0x5F, 0xBF)) > 50, "no blue: the spend bars or links are missing"
