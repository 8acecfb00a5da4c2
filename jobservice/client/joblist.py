"""`jobservice list`: jobs as a table on a terminal, else (or with --json) as JSON lines."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core import codec
from .api import Api
from .watching import STATUS_STYLES, clock


async def list_jobs(
    api: Api, query: dict[str, str], every_page: bool, as_json: bool, out: TextIO | None = None
) -> int:
    """Print the jobs newest first: a page, or every page with `every_page`."""
    out = out or sys.stdout
    table = out.isatty() and not as_json
    rows: list[dict[str, Any]] = []
    cursor = None
    async for page in api.jobs(query, every_page):
        if table:
            rows += page["jobs"]
        else:
            out.writelines(codec.dumps_str(job) + "\n" for job in page["jobs"])
            out.flush()
        cursor = page.get("next_cursor")
    if table:
        Console(file=out).print(job_table(rows) if rows else "No jobs.")
    if cursor:
        print(f"jobservice: more jobs: --cursor {cursor}, or --all for every page", file=sys.stderr)
    return 0


def job_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("id", "status", "type", "created", "ran", "steps", "error"):
        table.add_column(name, no_wrap=name != "error", overflow="ellipsis")
    for job in jobs:
        status = str(job.get("status"))
        # Text, not markup: an error message may hold brackets.
        table.add_row(
            Text(str(job.get("id"))),
            Text(status, style=STATUS_STYLES.get(status, "")),
            Text(str(job.get("type", ""))),
            Text(when(job.get("created"))),
            Text(ran(job)),
            Text(steps(job)),
            Text(str(job.get("error", ""))),
        )
    return table


def when(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000))


def ran(job: dict[str, Any]) -> str:
    """How long the latest attempt ran (to its end, or to the job's last change)."""
    started, updated = job.get("started"), job.get("updated")
    if not isinstance(started, int) or not isinstance(updated, int):
        return ""
    return clock(max(0, updated - started) / 1000)


def steps(job: dict[str, Any]) -> str:
    output = job.get("output")
    if not output:
        return ""
    total = output[-1].get("total") if isinstance(output[-1], dict) else None
    return f"{len(output)}/{total}" if total else str(len(output))
