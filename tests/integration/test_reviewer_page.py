"""The reviewer page end to end in headless Chromium: a refund the supervisor parks arrives live
on the open page and is approved there (the task completes); a budget stop shows the task's
totals and why approving cannot let it go on, an approval the supervisor refuses is shown as
refused, its edit is checked in the page, then it is rejected (the task fails); API errors
read in words; the emergency stop pauses and resumes everything, and only for an admin."""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.async_api import Locator, Page, Request, async_playwright, expect

from agentmesh.core import Settings
from tests.apps import governed
from tests.gateway_helpers import TOKENS, auth, serving
from tests.runtime_helpers import running, wait_for
from tests.supervisor_helpers import SupervisorProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; the suite never downloads a browser
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POLICY = """
budgets:
  default: {max_steps: 3}
  extension: {steps: 0}  # approving the looper's budget stop cannot let it go on: refused
reviews:
  timeout_s: 3600
  rules:
    - name: refunds over 100 need a person
      tool: refund
      approvals: 1
      field: {path: amount, gt: 100}
"""
CHOICES = ("approve", "approve_edited", "reject")


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium (apt-get install chromium)"
)
async def test_a_reviewer_approves_a_refund_that_arrives_live_and_the_task_completes(
    settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    s = settings.model_copy(update={"policy": policy})
    supervisor = SupervisorProcess(s, policy, tmp_path).start()
    try:
        async with (
            running(governed.mesh, ["payer", "looper"], s),
            serving(s, tmp_path) as url,
            httpx.AsyncClient(base_url=url, timeout=15) as api,
            async_playwright() as pw,
        ):
            await wait_for(lambda: _ready(api), timeout=30)
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = await browser.new_page(viewport={"width": 1200, "height": 1000})
            try:
                list_loads: list[str] = []

                def note(request: Request) -> None:
                    if "/v1/reviews?" in request.url:
                        list_loads.append(request.url)

                page.on("request", note)
                await page.goto(f"{url}/")
                await page.get_by_label("API token").fill("not-a-real-token-0000000")
                await page.get_by_test_id("token-submit").click()
                await expect(page.get_by_test_id("error")).to_contain_text(
                    "Not signed in: the gateway refused the token (invalid token)"
                )
                await expect(page.get_by_test_id("login")).to_be_visible()
                list_loads.clear()
                await page.get_by_label("API token").fill(TOKENS["rita"])
                await page.get_by_test_id("token-submit").click()
                await expect(page.get_by_test_id("error")).to_be_hidden()
                await expect(page.get_by_test_id("stream-status")).to_have_text("Live")
                await expect(page.get_by_test_id("empty-queue")).to_be_visible()
                assert await page.evaluate("sessionStorage.length") == 1  # the token, kept
                # One list load at sign-in, one when the stream opened; none after that.
                await wait_for(_async_true_when(lambda: len(list_loads) >= 2), timeout=10)
                await supervisor.wait_ready()

                # The page is open and idle: the refund is submitted and parked now.
                loads_before = len(list_loads)
                submitted = await api.post(
                    "/v1/tasks",
                    json={"agent": "payer", "input": {"order": "o-150", "amount": 150}},
                    headers=auth("sam"),
                )
                assert submitted.status_code == 202, submitted.text
                task_id = submitted.json()["task_id"]
                card = page.locator(f'[data-testid="review-item"][data-task-id="{task_id}"]')
                await expect(card).to_be_visible(timeout=30_000)
                assert len(list_loads) == loads_before, "the item came by reloading the list"
                item = await _with_usage(api)
                await _shows_the_provenance(card, item, task_id)
                shot = tmp_path / "reviewer-page-card.png"
                await card.screenshot(path=str(shot))
                box = await card.bounding_box()
                assert box is not None
                _assert_a_real_rendering(shot.read_bytes(), box["width"], box["height"])
                await page.screenshot(path=str(tmp_path / "reviewer-page.png"), full_page=True)

                await _nothing_is_chosen_for_the_reviewer(card)
                await card.get_by_test_id("decision-reason").fill("order o-150 checked")
                await expect(card.get_by_test_id("decision-submit")).to_be_enabled()
                async with page.expect_response(lambda r: "/decisions" in r.url) as sent:
                    await card.get_by_test_id("decision-submit").click()
                response = await sent.value
                assert response.status == 201, await response.text()
                assert response.request.post_data_json == {
                    "decision": "approve",
                    "reason": "order o-150 checked",
                    "shown_sha256": hashlib.sha256(item["payload_json"].encode()).hexdigest(),
                }

                # Released by the supervisor: the item leaves the open page, the task completes.
                await expect(card).to_have_count(0, timeout=30_000)
                await expect(page.get_by_test_id("empty-queue")).to_be_visible()
                await expect(page.get_by_test_id("pending-count")).to_have_text("0")
                status = await _task_in_state(api, task_id, "completed")
                assert status["output"] == {"order": "o-150", "refunded": 150.0}
                assert any(e["body"]["kind"] == "task_completed" for e in status["events"])
                released = (
                    await api.get("/v1/reviews?status=released", headers=auth("rita"))
                ).json()
                assert [(r["task_id"], r["approvals"]) for r in released] == [(task_id, ["rita"])]
                assert [r.order for r in governed.REFUNDS if r.order == "o-150"] == ["o-150"]
                await page.screenshot(path=str(tmp_path / "reviewer-page-after.png"))
                await _a_budget_stop_is_edited_in_the_page_then_rejected(page, api, tmp_path)
                await _kill_switch(page, api, tmp_path)
            except BaseException:
                await page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"the page when the test failed: {tmp_path / 'failure.png'}")
                raise
            finally:
                await browser.close()  # before the gateway stops: it waits for open streams
    finally:
        supervisor.terminate()


def _async_true_when(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def predicate() -> bool:
        return check()

    return predicate


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/readyz")).status_code == 200


async def _with_usage(api: httpx.AsyncClient) -> dict[str, Any]:
    """The one pending item, once the supervisor's record of the task's usage so far (an audit
    record that follows the request) has reached the gateway: the page shows it live too, so
    comparing against an earlier read would race it."""
    items: list[dict[str, Any]] = []

    async def recorded() -> bool:
        nonlocal items
        items = (await api.get("/v1/reviews", headers=auth("rita"))).json()
        return len(items) == 1 and items[0]["steps_so_far"] is not None

    # The supervisor writes it after the request it answers; on a loaded machine that has
    # taken over 15 s.
    await wait_for(recorded, timeout=45)
    return items[0]


async def _task_in_state(api: httpx.AsyncClient, task_id: str, state: str) -> dict[str, Any]:
    """GET /v1/tasks/{id} until the task is in ``state``; says where it was if it never is."""
    last = "nothing yet"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = await api.get(f"/v1/tasks/{task_id}", headers=auth("sam"))
        if r.status_code == 200 and r.json()["state"] == state:
            found: dict[str, Any] = r.json()
            return found
        last = f"{r.status_code} {r.text[:2000]}"
        await asyncio.sleep(0.2)
    raise AssertionError(f"task {task_id} never became {state}; last: {last}")


async def _shows_the_provenance(card: Locator, item: dict[str, Any], task_id: str) -> None:
    assert (item["task_id"], item["kind"], item["required_approvals"]) == (task_id, "tool_call", 1)
    await expect(card.get_by_test_id("item-task-id")).to_have_text(task_id)
    await expect(card.get_by_test_id("item-agent")).to_have_text("payer")
    await expect(card.get_by_test_id("item-kind")).to_have_text("tool_call")
    await expect(card.get_by_test_id("item-reason")).to_contain_text(item["reason"])
    await expect(card.get_by_test_id("item-approvals")).to_have_text("0 of 1")
    await expect(card.get_by_test_id("item-trace-id")).to_have_text(item["trace_id"] or "none")
    await expect(card.get_by_test_id("item-tools")).to_contain_text(
        ", ".join(item["tools_called"]) if item["tools_called"] else "none so far"
    )
    cost = item["cost_so_far_usd"]
    await expect(card.get_by_test_id("item-cost")).to_have_text(
        f"${cost}" if cost is not None else "not recorded"
    )
    requested = card.get_by_test_id("item-requested-at").locator("time")
    await expect(requested).to_have_attribute("datetime", item["requested_at"])
    assert item["expires_at"] is not None
    expires = card.get_by_test_id("item-expires-at").locator("time")
    await expect(expires).to_have_attribute("datetime", item["expires_at"])
    await expect(expires).to_contain_text("in ")  # relative: in 60 minutes
    await expect(card.get_by_test_id("item-sha256")).to_have_text(item["shown_sha256"])
    shown = await card.get_by_test_id("item-payload").inner_text()
    assert orjson.loads(shown) == orjson.loads(item["payload_json"])
    assert orjson.loads(shown) == {"tool": "refund", "arguments": {"order": "o-150", "amount": 150}}
    assert "\n  " in shown, "the payload is pretty-printed"


async def _nothing_is_chosen_for_the_reviewer(card: Locator) -> None:
    submit = card.get_by_test_id("decision-submit")
    for choice in CHOICES:
        await expect(card.get_by_test_id(f"choice-{choice}")).not_to_be_checked()
    await expect(submit).to_be_disabled()
    # A held tool call is approved or rejected as shown (see the page's note).
    await expect(card.get_by_test_id("choice-approve_edited")).to_be_disabled()
    await expect(card.get_by_test_id("edit-unavailable")).to_be_visible()
    # A choice without a reason is not enough.
    await card.get_by_test_id("decision-reason").fill("   ")
    await card.get_by_role("radio", name=re.compile(r"^Approve —")).check()
    await expect(submit).to_be_disabled()


async def _a_budget_stop_is_edited_in_the_page_then_rejected(
    page: Page, api: httpx.AsyncClient, shots: Path
) -> None:
    looped = await api.post(
        "/v1/tasks", json={"agent": "looper", "input": {"n": 0}}, headers=auth("sam")
    )
    assert looped.status_code == 202, looped.text
    task_id = looped.json()["task_id"]
    card = page.locator(f'[data-testid="review-item"][data-task-id="{task_id}"]')
    await expect(card).to_be_visible(timeout=30_000)
    await expect(card.get_by_test_id("item-kind")).to_have_text("budget")
    # The task's own totals against its limits, from the supervisor's ledger: first in why
    # it was parked, then the parked step's own words.
    await expect(card.get_by_test_id("item-task-usage")).to_contain_text(
        "steps 3 of 3", timeout=30_000
    )
    (item,) = [
        i
        for i in (await api.get("/v1/reviews", headers=auth("rita"))).json()
        if i["task_id"] == task_id
    ]
    assert re.fullmatch(r"tokens \d+, steps 3 of 3, cost \S+ USD, hops \d+", item["task_usage"])
    await expect(card.get_by_test_id("item-task-usage")).to_have_text(item["task_usage"])
    await expect(card.get_by_test_id("item-reason")).to_have_text(
        f"Why it was parked: the task used {item['task_usage']}; {item['agent']} parked its step: "
        f"{item['step_reason']}"
    )
    # The looper parks its 4th call itself (it carries the budget), before the ledger is over.
    assert item["step_reason"].startswith("budget exceeded: steps used ")
    blocked = (
        "approving cannot let the work go on (steps: used 3, approving would allow 3 (3 + 0 "
        "from budgets.extension.steps)): reject it, or raise budgets.extension in the policy "
        "and approve again"
    )
    await expect(card.get_by_test_id("item-approval-blocked")).to_have_text(blocked)
    await _an_approval_the_supervisor_refuses_is_shown(card, api, task_id, blocked)
    submit, edited = card.get_by_test_id("decision-submit"), card.get_by_test_id("edited-payload")
    error = card.get_by_test_id("edited-payload-error")
    await expect(edited).to_be_hidden()
    await card.get_by_test_id("choice-approve_edited").check()
    await expect(edited).to_be_visible()
    await card.get_by_label("Reason (required; recorded with your decision)").fill("no more loops")
    await expect(submit).to_be_enabled()  # the payload as shown is valid JSON
    await edited.fill('{"n": ')
    await expect(error).to_contain_text("Not valid JSON")
    await expect(edited).to_have_attribute("aria-invalid", "true")
    await expect(submit).to_be_disabled()
    await edited.fill("[1, 2]")
    await expect(error).to_contain_text("must be a JSON object")
    await expect(submit).to_be_disabled()
    await card.screenshot(path=str(shots / "reviewer-page-edit.png"))
    await edited.fill('{"n": 0}')
    await expect(error).to_have_text("")
    await expect(submit).to_be_enabled()
    await card.get_by_test_id("choice-reject").check()
    await expect(edited).to_be_hidden()
    shown = (await api.get("/v1/reviews", headers=auth("rita"))).json()
    (item,) = [i for i in shown if i["task_id"] == task_id]
    async with page.expect_response(lambda r: "/decisions" in r.url) as sent:
        await submit.click()
    response = await sent.value
    assert response.status == 201, await response.text()
    assert response.request.post_data_json == {
        "decision": "reject",
        "reason": "no more loops",
        "shown_sha256": item["shown_sha256"],
    }
    await expect(card).to_have_count(0, timeout=30_000)
    await expect(page.get_by_test_id("notice")).to_have_text(
        f"The review of task {task_id} was rejected; it left the queue."
    )

    failed = await _task_in_state(api, task_id, "failed")
    assert "ReviewRejected" in (failed["failure"] or ""), failed["failure"]
    # The supervisor's ledger, with the steps its budget counted: the timeline's steps.
    assert failed["budget"]["status"] == "failed"
    assert failed["budget"]["used"]["steps"] == failed["steps"]


async def _an_approval_the_supervisor_refuses_is_shown(
    card: Locator, api: httpx.AsyncClient, task_id: str, why: str
) -> None:
    """Approved anyway: the gateway records it (201), the supervisor refuses it; the page shows
    the refusal and takes a decision again, the API lists it, and the vote no longer counts."""
    await card.get_by_test_id("choice-approve").check()
    await card.get_by_test_id("decision-reason").fill("one more try")
    async with card.page.expect_response(lambda r: "/decisions" in r.url) as sent:
        await card.get_by_test_id("decision-submit").click()
    assert (await sent.value).status == 201
    await expect(card.get_by_test_id("item-refusals")).to_have_text(
        f"approve by rita: {why}", timeout=30_000
    )
    await expect(card.get_by_test_id("decision-status")).to_have_text(
        f"The supervisor refused your approve: {why}"
    )
    await expect(card.get_by_test_id("choice-reject")).to_be_enabled()
    (item,) = [
        i
        for i in (await api.get("/v1/reviews", headers=auth("rita"))).json()
        if i["task_id"] == task_id
    ]
    assert (item["status"], item["approvals"]) == ("pending", [])
    assert [(r["decision"], r["reviewer"], r["why"]) for r in item["refusals"]] == [
        ("approve", "rita", why)
    ]


async def _kill_switch(page: Page, api: httpx.AsyncClient, shots: Path) -> None:
    kill = page.get_by_test_id("kill-switch")
    pause, resume = kill.get_by_test_id("pause-all"), kill.get_by_test_id("resume-all")
    reason = kill.get_by_label("Reason (required; recorded in the audit trail)")
    status, dialog = kill.get_by_test_id("kill-status"), page.get_by_test_id("kill-confirm")
    await expect(pause).to_be_disabled()  # no reason yet
    await reason.fill("drill")
    await pause.click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Reason: drill")
    await dialog.get_by_test_id("kill-confirm-yes").click()
    # A reviewer's token may not: the API's 403, in words.
    await expect(status).to_have_text("Not allowed: rita may not do this (needs role: admin).")

    await page.get_by_test_id("sign-out").click()
    await page.get_by_label("API token").fill(TOKENS["root"])
    await page.get_by_test_id("token-submit").click()
    await expect(page.get_by_test_id("stream-status")).to_have_text("Live")
    await expect(status).to_have_text("")
    await reason.fill("incident drill")
    await pause.click()
    await dialog.get_by_test_id("kill-confirm-cancel").click()
    await expect(dialog).to_be_hidden()
    assert await _global_rule(api) is None, "cancelled, yet something was sent"
    await pause.click()
    await page.screenshot(path=str(shots / "reviewer-page-confirm.png"))
    await dialog.get_by_test_id("kill-confirm-yes").click()
    await expect(status).to_contain_text("Everything is paused")
    await expect(status).to_contain_text("by root")
    assert await _global_rule(api) == ("pause", "incident drill", "root")
    await reason.fill("drill over")
    await resume.click()
    await expect(dialog).to_contain_text("Resume everything?")
    await dialog.get_by_test_id("kill-confirm-yes").click()
    await expect(status).to_contain_text("The global pause is lifted")
    assert await _global_rule(api) is None, "a resume leaves no rule in force"


async def _global_rule(api: httpx.AsyncClient) -> tuple[str, str, str] | None:
    rules = (await api.get("/v1/control", headers=auth("root"))).json()
    found = [(r["action"], r["reason"], r["issued_by"]) for r in rules if r["scope"] == "global"]
    return found[0] if found else None


def _assert_a_real_rendering(png: bytes, width: float, height: float) -> None:
    """The card's screenshot is a rendered card: its size, many colours (text is anti-aliased),
    mostly the white card, and the dark payload box and the blue edge of the stylesheet."""
    assert 5_000 < len(png) < 5_000_000, f"{len(png)} bytes"
    w, h, pixels = _decode_png(png)
    assert abs(w - width) <= 2, (w, width)
    assert abs(h - height) <= 2, (h, height)
    colours = Counter(pixels)
    assert len(colours) > 100, f"only {len(colours)} colours: a blank or flat image"
    (background, count), *_ = colours.most_common(1)
    assert background[:3] == (255, 255, 255), f"the card is not white: {background}"
    assert 0.3 < count / len(pixels) < 0.97, f"{count / len(pixels):.0%} background"

    def near(rgb: tuple[int, int, int]) -> int:
        return sum(n for c, n in colours.items() if max(abs(c[k] - rgb[k]) for k in range(3)) <= 6)

    assert near((0x0F, 0x17, 0x28)) > 0.02 * len(pixels), "no dark payload box: CSS not applied?"
    assert near((0x1F, 0x5F, 0xBF)) > 3 * h, "no blue left edge on the card"


def _decode_png(png: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """8-bit RGB/RGBA, non-interlaced PNG → width, height and the pixels, row by row."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, chunk = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert colour in (2, 6), f"colour type {colour}"
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (stride + 1)
    prev = bytearray(stride)
    pixels: list[tuple[int, ...]] = []
    for y in range(height):
        start = y * (stride + 1)
        kind_of_filter, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            if kind_of_filter == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind_of_filter == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind_of_filter == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind_of_filter == 4:
                up_left = prev[i - bpp] if i >= bpp else 0
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        pixels += [tuple(line[x : x + 3]) for x in range(0, stride, bpp)]
        prev = line
    return width, height, pixels
