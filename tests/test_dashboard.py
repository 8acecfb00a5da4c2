"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
service process with API_TOKEN set."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .service import ROOT, Service

pytestmark = pytest.mark.slow

async_api = pytest.importorskip(
    "playwright.async_api",
    reason="the dashboard test needs Playwright for Python: pip install -e '.[test]'",
)
expect = async_api.expect

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "dashboard-token"
# Slow enough to watch the bar move, fast enough for a short test: 5 steps of 0.6 s.
STEP_MS = "600"
# Where a copy of the screenshots goes for people to look at (build/ is ignored by git).
SHOTS = ROOT / "build" / "dashboard"
WAIT_MS = 20_000

Page = Any
PROGRESS_AT_LEAST = """([bar, percent]) =>
    Number(document.querySelector(bar)?.getAttribute("aria-valuenow")) >= percent"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install it (Debian/Ubuntu: apt-get install chromium; "
            "scripts/test does this when run as root) or set CHROMIUM to its path"
        )
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    service = Service(tmp_path / "data", API_TOKEN=TOKEN, JOB_STEP_MS=STEP_MS)
    await service.start()
    yield service
    await service.stop(signal.SIGKILL)


async def open_dashboard(browser: Any, url: str, **context: Any) -> Page:
    page = await (await browser.new_context(**context)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # What the Content-Security-Policy blocks shows only as a console error: count it too.
    page.on("console", lambda message: errors.extend(
        [message.text] if "Content Security Policy" in message.text else []
    ))  # fmt: skip
    page.errors = errors
    await page.goto(f"{url}/")
    await page.fill("#token", TOKEN)
    await page.click("#token-form button")
    await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    return page


async def submit(page: Page, data: str) -> str:
    """Submit a demo job through the form; return its id (the detail panel opens on it)."""
    await page.fill("#job-type", "demo")
    await page.fill("#job-data", data)
    await page.click("#submit-form button[type=submit]")
    await expect(page.locator("#submit-status")).to_contain_text("Submitted job")
    job_id: str = await page.locator("#detail").get_attribute("data-job-id")
    assert job_id
    return job_id


async def progress_at_least(page: Page, job_id: str, percent: int) -> int:
    """Wait until the job's row shows at least `percent`; return what it shows."""
    bar = f'#job-list [data-job-id="{job_id}"] [role=progressbar]'
    await page.wait_for_function(
        PROGRESS_AT_LEAST,
        arg=[bar, percent],
        timeout=WAIT_MS,
    )
    value = await page.locator(bar).get_attribute("aria-valuenow")
    return int(value)


async def shoot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


async def test_submit_watch_progress_succeed_then_cancel_a_long_job(
    browser: Any, service: Service, tmp_path: Path
) -> None:
    page = await open_dashboard(browser, service.url, viewport={"width": 1280, "height": 900})

    await page.fill("#job-data", "{not json")
    await page.click("#submit-form button[type=submit]")
    await expect(page.locator("#data-error")).to_contain_text("not valid JSON")
    await expect(page.locator("#job-data")).to_be_focused()

    job_id = await submit(page, '{"report": "weekly"}')
    row = page.locator(f'#job-list [data-job-id="{job_id}"]')
    first = await progress_at_least(page, job_id, 20)
    later = await progress_at_least(page, job_id, first + 20)
    assert 0 < first < later <= 100
    await expect(row).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
    await expect(page.locator("#detail-output li")).to_have_count(5)
    await expect(page.locator("#detail-log")).to_contain_text("completed")
    succeeded = page.locator('#counts [data-status="succeeded"] .count')
    await expect(succeeded).to_have_text("1")

    long_id = await submit(page, '{"report": "yearly"}')
    await progress_at_least(page, long_id, 20)
    await shoot(page, tmp_path, "dashboard-light")
    await page.click("#cancel")
    long_row = page.locator(f'#job-list [data-job-id="{long_id}"]')
    await expect(long_row).to_have_attribute("data-status", "cancelled", timeout=WAIT_MS)
    await expect(page.locator("#detail-log")).to_contain_text("cancelled")
    await expect(page.locator("#cancel")).to_be_hidden()
    await expect(page.locator('#counts [data-status="cancelled"] .count')).to_have_text("1")

    await page.click("#resubmit")
    await expect(page.locator("#detail")).not_to_have_attribute("data-job-id", long_id)
    assert not page.errors


async def test_it_says_reconnecting_and_comes_back_after_a_restart(
    browser: Any, service: Service, tmp_path: Path
) -> None:
    page = await open_dashboard(
        browser, service.url, viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    job_id = await submit(page, '{"phone": true}')
    await service.stop(signal.SIGTERM)
    live = page.locator("#live")
    await expect(live).not_to_have_attribute("data-state", "live", timeout=WAIT_MS)
    await expect(live).to_contain_text("reconnecting")
    await service.start()
    await expect(live).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    # The job ends (within the stop's grace, or rerun after the restart); both views catch up.
    row = page.locator(f'#job-list [data-job-id="{job_id}"]')
    await expect(row).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
    await expect(page.locator("#detail-summary")).to_contain_text("succeeded", timeout=WAIT_MS)
    await shoot(page, tmp_path, "dashboard-dark-phone")
    assert not page.errors
