"""The page's dead letters in headless Chromium: an admin opens a poison record's dead letter,
fixes its payload there and redrives it (the task completes); a reviewer's token reads why
it may not see them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from agentmesh.core import Settings
from tests.gateway_helpers import TOKENS, serving
from tests.integration.test_dlq import ONE_PARTITION, RUNS, Job, mesh, outcomes
from tests.integration.test_reviewer_page import CHROMIUM, CHROMIUM_ARGS
from tests.runtime_helpers import dead_letters, running, send_handoffs

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(autouse=True)
def _fresh_runs() -> None:
    RUNS.clear()


async def test_an_admin_fixes_and_redrives_a_dead_letter_on_the_page(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        running(mesh, ["fixer"], settings, ONE_PARTITION),
        serving(settings, tmp_path) as url,
        async_playwright() as pw,
    ):
        await send_handoffs(settings, mesh, "fixer", [Job(text="poison")], ["t1"])
        (letter,) = await dead_letters(settings, 1, timeout=20)
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = await browser.new_page(viewport={"width": 1200, "height": 1000})
        try:
            await page.goto(f"{url}/")
            await page.get_by_label("API token").fill(TOKENS["rita"])
            await page.get_by_test_id("token-submit").click()
            await expect(page.get_by_test_id("dlq-status")).to_contain_text(
                "reading dead letters needs the auditor or admin role"
            )
            await page.get_by_test_id("sign-out").click()
            await expect(page.get_by_test_id("dlq")).to_be_hidden()

            await page.get_by_label("API token").fill(TOKENS["root"])
            await page.get_by_test_id("token-submit").click()
            card = page.get_by_test_id("dead-letter")
            await expect(card).to_have_count(1)
            await expect(card).to_contain_text("ValueError: poison pill")
            await expect(card).to_contain_text(letter.dead_letter_id)
            await card.get_by_test_id("dlq-open").click()
            payload = card.get_by_test_id("dlq-payload")
            await expect(payload).to_have_value('{\n  "text": "poison"\n}')
            await payload.fill('{"text": 5}')
            await card.get_by_test_id("dlq-reason").fill("typo in the job")
            await card.get_by_test_id("dlq-redrive").click()
            status = card.get_by_test_id("dlq-redrive-status")
            await expect(status).to_contain_text("does not fit the handoff schema")
            await payload.fill('{"text": "fixed"}')
            await card.get_by_test_id("dlq-redrive").click()
            await expect(status).to_contain_text("Redriven to")
        finally:
            await browser.close()
        seen = await outcomes(settings, 4)
    assert RUNS == ["poison", "fixed"]
    assert seen["t1"][-2:] == ["task_completed", "step_finished:result"]
