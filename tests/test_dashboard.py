"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
service process with API_TOKEN set; any Content-Security-Policy violation fails the test."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
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

LAPTOP = {"width": 1366, "height": 768}
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# A demo job sleeps 5 steps of STEP_MS: at least this long from created to completed.
DEMO_MS = 5 * int(STEP_MS)

Page = Any
PROGRESS_AT_LEAST = """([bar, percent]) =>
    Number(document.querySelector(bar)?.getAttribute("aria-valuenow")) >= percent"""
# What a chart draws: uPlot's own data, [x, series 1, series 2, ...].
CHART_DATA = """(chart) => document.querySelector(`[data-chart="${chart}"]`).uplot?.data ?? null"""


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
    if not await page.locator("#submit-form").is_visible():
        await page.click("#new-job")
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


async def chart_data(page: Page, chart: str) -> list[list[float | None]]:
    data: list[list[float | None]] = await page.evaluate(CHART_DATA, chart)
    return data


async def wait_chart(page: Page, chart: str, series: int, test: str) -> None:
    """Wait until some value the chart draws in `series` passes `test` (a JS expression in v)."""
    await page.wait_for_function(
        f"([chart, n]) => ({CHART_DATA})(chart)?.[n].some((v) => v !== null && ({test}))",
        arg=[chart, series],
        timeout=WAIT_MS,
    )


async def top_of(page: Page, selector: str) -> float:
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    return float(box["y"])


async def shoot(page: Page, tmp_path: Path, name: str, full_page: bool = True) -> None:
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


async def test_the_job_list_comes_first_and_the_charts_are_empty_on_a_fresh_service(
    browser: Any, service: Service, tmp_path: Path
) -> None:
    for viewport in (LAPTOP, WIDE):
        page = await open_dashboard(browser, service.url, viewport=viewport)
        # Without scrolling: the filters, the list's first rows and the three charts.
        await expect(page.locator("#list-status")).to_have_text("No jobs match.")
        assert await top_of(page, "#job-list") + 5 * 45 < viewport["height"]
        assert await top_of(page, '[data-chart="latency"] .plot') < viewport["height"]
        # The submit form starts folded; "New job" unfolds it and puts the cursor in it.
        await expect(page.locator("#submit-form")).to_be_hidden()
        await page.click("#new-job")
        await expect(page.locator("#job-type")).to_be_focused()
        await wait_chart(page, "jobs", 1, "v === 0")
        # One point a second for 5 minutes, and one for the moment itself.
        jobs, latency = await chart_data(page, "jobs"), await chart_data(page, "latency")
        assert len(jobs[0]) == 301 and not any(any(v for v in s) for s in jobs[1:])
        assert all(v is None for v in latency[1] + latency[2])
        assert not page.errors
    page = await open_dashboard(browser, service.url, viewport=PHONE)
    assert await top_of(page, "#job-list") < await top_of(page, "#submit-panel")
    assert await top_of(page, "#job-list") < await top_of(page, "#charts")
    assert not page.errors


async def test_submit_watch_progress_succeed_then_cancel_a_long_job(
    browser: Any, service: Service, tmp_path: Path
) -> None:
    page = await open_dashboard(browser, service.url, viewport=LAPTOP)

    await page.click("#new-job")
    await page.fill("#job-data", "{not json")
    await page.click("#submit-form button[type=submit]")
    await expect(page.locator("#data-error")).to_contain_text("not valid JSON")
    await expect(page.locator("#job-data")).to_be_focused()

    job_id = await submit(page, '{"report": "weekly"}')
    row = page.locator(f'#job-list [data-job-id="{job_id}"]')
    first = await progress_at_least(page, job_id, 20)
    await wait_chart(page, "queue", 2, "v >= 1")  # running
    later = await progress_at_least(page, job_id, first + 20)
    assert 0 < first < later <= 100
    await expect(row).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
    await expect(page.locator("#detail-output li")).to_have_count(5)
    await expect(page.locator("#detail-log")).to_contain_text("completed")
    succeeded = page.locator('#counts [data-status="succeeded"] .count')
    await expect(succeeded).to_have_text("1")

    # The charts move: the job shows as created and completed, and as taking its 5 steps.
    await wait_chart(page, "jobs", 2, "v > 0")  # completed per second
    await wait_chart(page, "latency", 1, f"v >= {DEMO_MS}")  # p50, created -> completed
    await expect(page.locator("#charts")).to_have_attribute("data-completed", "1")
    assert max(v or 0 for v in (await chart_data(page, "jobs"))[1]) > 0  # created
    await expect(page.locator('[data-key="p50"] .value')).to_contain_text(" s")

    long_id = await submit(page, '{"report": "yearly"}')
    await progress_at_least(page, long_id, 20)
    await shoot(page, tmp_path, "dashboard-light")
    await page.click("#close-detail")
    await page.evaluate("window.scrollTo(0, 0)")
    await shoot(page, tmp_path, "dashboard-laptop", full_page=False)
    long_row = page.locator(f'#job-list [data-job-id="{long_id}"]')
    await long_row.locator("button").click()
    await page.click("#cancel")
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
    page = await open_dashboard(browser, service.url, viewport=PHONE, color_scheme="dark")
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


async def run_loadtest(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A short load test with --report against its own service, whose small queue turns some
    POSTs away (429), so the report has errors to show too."""
    service = Service(tmp_path / "data", QUEUE_LIMIT="20", JOB_STEP_MS="20")
    await service.start()
    report = tmp_path / "report.html"
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "scripts" / "loadtest.py"), service.url, "--jobs", "150",
            "--concurrency", "8", "--type", "demo", "--max-seconds", "60", "--json",
            "--report", str(report), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 120)
    finally:
        await service.stop(signal.SIGKILL)
    assert process.returncode == 0, out
    result: dict[str, Any] = json.loads(out)
    return report, result


def report_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert match, "no data in the report"
    data: dict[str, Any] = json.loads(match[1])
    return data


async def test_a_load_test_report_is_one_file_with_the_runs_data(tmp_path: Path) -> None:
    report, result = await run_loadtest(tmp_path)
    page = report.read_text()
    # Nothing to fetch: no element loads anything, no stylesheet imports anything.
    assert not re.search(r"<(link|img|iframe)\b|\b(src|href)\s*=|@import|url\(", page, re.I)
    assert "uPlot" in page and "class TimeChart" in page and "Permission is hereby granted" in page
    data = report_data(page)
    assert data["summary"] == result
    series = data["series"]
    assert len(series["x"]) >= 3 and series["x"] == sorted(series["x"])
    assert sum(series["created"]) == result["created"] > 0
    assert sum(series["completed"]) == result["ended"]["completed"]
    turned_away = sum(n for status, n in result["http_statuses"].items() if status[-3] != "2")
    assert sum(series["http"]) == turned_away
    assert sum(v is not None for v in series["p50"]) > 0


async def test_a_load_test_report_draws_its_charts_offline(browser: Any, tmp_path: Path) -> None:
    report, result = await run_loadtest(tmp_path)
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(report.as_uri())
    for chart in ("jobs", "latency", "errors"):
        await page.wait_for_function("(c) => document.querySelector(`[data-chart=${c}]`).uplot",
                                     arg=chart, timeout=WAIT_MS)  # fmt: skip
    drawn = await chart_data(page, "jobs")
    assert sum(drawn[1]) == result["created"]  # created, second by second
    assert (await chart_data(page, "errors"))[0] == drawn[0]
    await expect(page.locator('[data-key="created"] .value')).to_contain_text("overall")
    await shoot(page, tmp_path, "loadtest-report")
    assert requests == [report.as_uri()] and not errors
