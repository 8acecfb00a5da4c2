"""A load test as a picture: one self-contained HTML page with the run's charts over time.

`loadtest.py --report FILE` writes it. The page draws with the dashboard's own chart code and
the uPlot library vendored beside it (jobservice/http/static/), both inlined with the data, so
it opens from a file, offline, and can be mailed or attached as it is.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
STATIC = HERE.parent / "jobservice" / "http" / "static"
ENDED_AS = {"completed": "completed", "error": "failed", "cancelled": "cancelled"}
PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


class Run(Protocol):
    """What loadtest.Part holds, as far as the report reads it."""

    post_sent: dict[str, float]
    ended: dict[str, tuple[str, float]]
    failures: list[tuple[float, str]]
    first_ms: float


def series(run: Run) -> dict[str, list[Any]]:
    """One value a second from the first POST to the last thing that happened, and a quiet
    second either side: jobs created, completed, failed and cancelled, create -> end
    percentiles of the jobs ending in that second, and errors (error answers, client errors)."""
    seconds = [run.first_ms, *run.post_sent.values(), *(t for _, t in run.ended.values())]
    seconds += [t for t, _ in run.failures]
    first, last = math.floor(min(seconds) / 1000) - 1, math.floor(max(seconds) / 1000) + 1
    x = list(range(first, last + 1))
    counts: dict[str, list[float]] = defaultdict(lambda: [0] * len(x))
    took: list[list[float]] = [[] for _ in x]
    slot = lambda ms: math.floor(ms / 1000) - first  # noqa: E731
    for sent in run.post_sent.values():
        counts["created"][slot(sent)] += 1
    for job_id, (kind, at) in run.ended.items():
        counts[ENDED_AS.get(kind, "failed")][slot(at)] += 1
        if job_id in run.post_sent:
            took[slot(at)].append(at - run.post_sent[job_id])
    for at, what in run.failures:
        # "POST 503" is an answer; "POST ClientOSError" never got one.
        counts["http" if what.split()[-1].isdigit() else "client"][slot(at)] += 1
    out: dict[str, list[Any]] = {"x": x}
    for name in ("created", "completed", "failed", "cancelled", "http", "client"):
        out[name] = counts[name]
    for name, fraction in PERCENTILES.items():
        out[name] = [nearest_rank(sorted(values), fraction) for values in took]
    return out


def nearest_rank(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def render(result: dict[str, Any], rows: list[tuple[str, str]], run: Run) -> str:
    data = {"series": series(run), "summary": result}
    # Inside <script>, "</" could end the element early; JSON allows it escaped.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.first_ms / 1000))
    table = "\n".join(
        f"<tr><th scope=row>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in rows
    )
    uplot = read("uPlot.iife.min.js")
    charts = read("charts.js") + (HERE / "loadreport.js").read_text()
    if any("</script" in script.lower() for script in (uplot, charts)):
        raise ValueError("an inlined script would end its <script> element early")
    return PAGE.format(
        title=html.escape(f"Load test of {result['url']}, {started}"),
        heading=html.escape(f"Load test of {result['url']}"),
        subtitle=html.escape(
            f"{started} · {result['jobs']:,} {result['type']} jobs, {result['concurrency']} "
            f"POSTs in flight, {result['watchers_per_job']} watchers per job"
        ),
        table=table,
        css=read("uPlot.min.css") + read("dashboard.css") + REPORT_CSS,
        licence=read("uPlot.LICENSE").replace("--", "- -"),
        uplot=uplot,
        charts=charts,
        data=payload,
    )


def read(name: str) -> str:
    return (STATIC / name).read_text()


def write_report(path: Path, result: dict[str, Any], rows: list[tuple[str, str]], run: Run) -> None:
    path.write_text(render(result, rows, run))


REPORT_CSS = """
.report { max-width: 72rem; margin: 0 auto; padding: 1rem clamp(1rem, 3vw, 2rem) 2rem;
  display: grid; gap: 1rem; }
.report h1 { font-size: 1.3rem; }
.report table { border-collapse: collapse; font-size: .9rem; width: 100%; }
.report th, .report td { text-align: left; padding: .3rem .75rem .3rem 0; vertical-align: top;
  border-top: 1px solid var(--line); }
.report th { color: var(--muted); font-weight: normal; white-space: nowrap; }
.report td { font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main class="report">
<header>
  <h1>{heading}</h1>
  <p class="muted">{subtitle}</p>
</header>
<section id="charts" class="panel charts" aria-labelledby="charts-h">
  <h2 id="charts-h">Over time, second by second</h2>
  <figure class="chart" data-chart="jobs"></figure>
  <figure class="chart" data-chart="latency"></figure>
  <figure class="chart" data-chart="errors"></figure>
  <p class="muted small">Point at a chart for the values of that second.</p>
</section>
<section class="panel" aria-labelledby="summary-h">
  <h2 id="summary-h">Summary</h2>
  <table>
{table}
  </table>
</section>
</main>
<script type="application/json" id="report-data">{data}</script>
<!-- uPlot, https://github.com/leeoniya/uPlot:
{licence}-->
<script>{uplot}</script>
<script type="module">{charts}</script>
</body>
</html>
"""
