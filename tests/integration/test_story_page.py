"""A task's story on the page, in headless Chromium: an auditor sees the fanned-out task as a
waterfall of its steps and opens one to its recorded model exchange; a reviewer is told the
role it needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from agentmesh.core import Settings
from tests.gateway_helpers import TOKENS, serving
from tests.integration.test_reviewer_page import CHROMIUM, CHROMIUM_ARGS
from tests.runtime_helpers import run_pipeline_task

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium (apt-get install chromium)"
    ),
]


async def test_an_auditor_sees_a_task_as_a_waterfall_of_its_steps(
    settings: Settings, tmp_path: Path
) -> None:
    task_id = await run_pipeline_task(settings, parts=2)
    async with serving(settings, tmp_path) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            await page.goto(f"{url}/")
            await page.get_by_label("API token").fill(TOKENS["rita"])
            await page.get_by_test_id("token-submit").click()
            await page.get_by_test_id("story-task").fill(task_id)
            await page.get_by_test_id("story-show").click()
            await expect(page.get_by_test_id("story-status")).to_contain_text(
                "needs the auditor or admin role"
            )
            await page.get_by_test_id("sign-out").click()

            await page.get_by_label("API token").fill(TOKENS["ada"])
            await page.get_by_test_id("token-submit").click()
            await page.get_by_test_id("story-task").fill(task_id)
            await page.get_by_test_id("story-show").click()
            steps = page.get_by_test_id("story-step")
            await expect(steps).to_have_count(5)
            agents = [await s.get_attribute("data-agent") for s in await steps.all()]
            # Depth first: each worker right above the collector step it handed to.
            assert agents == ["planner", "worker", "collector", "worker", "collector"]
            await expect(page.get_by_test_id("story-status")).to_contain_text("5 steps")
            planner = steps.first
            await expect(planner.get_by_test_id("story-call")).to_be_hidden()
            await planner.get_by_role("button").click()
            await expect(planner.get_by_test_id("story-call")).to_contain_text("split: why")
            await page.screenshot(path=str(tmp_path / "story-page.png"), full_page=True)
        finally:
            await browser.close()
