"""Following jobs to their end: on a terminal one progress bar per job, redrawn in place
(rich); elsewhere one plain line per event."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import aclosing
from typing import Any, Protocol, TextIO

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID
from rich.table import Column
from rich.text import Text

from .api import Api, ApiError
from .tracker import REQUEST_FAILED, Tracker

# Redraws a second on a terminal between events, for the elapsed time and the moving bar.
REFRESH_PER_SECOND = 4
STATUS_STYLES = {
    "pending": "yellow",
    "processing": "blue",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "?": "red",
}


class Display(Protocol):
    def __enter__(self) -> Display: ...

    def __exit__(self, *exc: object) -> None: ...

    def show(self, tracker: Tracker, event: dict[str, Any] | None) -> None: ...


async def watch_jobs(api: Api, job_ids: list[str], out: TextIO | None = None) -> int:
    """Follow the jobs at once; 0 if all completed, 1 if one failed or was cancelled, 2 if
    one could not be followed."""
    out = out or sys.stdout
    trackers = [Tracker(job_id) for job_id in dict.fromkeys(job_ids)]  # each job once
    display: Display = Bars(out, trackers) if out.isatty() else Lines(out, len(trackers) > 1)
    with display:
        codes = await asyncio.gather(*(follow(api, tracker, display) for tracker in trackers))
    for tracker in trackers:
        if tracker.code == REQUEST_FAILED:
            print(f"jobservice: watch {tracker.id}: {tracker.message}", file=sys.stderr)
    return max(codes, default=0)


async def follow(api: Api, tracker: Tracker, display: Display) -> int:
    try:
        async with aclosing(api.events(tracker.id)) as events:
            async for event in events:
                tracker.update(event)
                display.show(tracker, event)
                if tracker.code is not None:
                    return tracker.code
        # The stream ended early and did not come back: ask for the job's status.
        tracker.ended_as(await api.call("GET", f"/job/{tracker.id}"))
    except ApiError as exc:
        tracker.failed(str(exc))
    except (aiohttp.ClientError, OSError) as exc:
        tracker.failed(f"cannot reach {api.url}: {exc}")
    display.show(tracker, None)
    assert tracker.code is not None
    return tracker.code


class Lines:
    """One line per event, for logs and pipes; with several jobs each line names its job."""

    def __init__(self, out: TextIO, several: bool) -> None:
        self.out = out
        self.several = several

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, tracker: Tracker, event: dict[str, Any] | None) -> None:
        if tracker.code == REQUEST_FAILED:
            return  # said once on stderr, at the end
        line = describe(event, tracker) if event is not None else f"{tracker.id}: {tracker.status}"
        if self.several and not line.startswith(tracker.id):
            line = f"{tracker.id} {line}"
        self.out.write(line + "\n")
        self.out.flush()


def describe(event: dict[str, Any], tracker: Tracker) -> str:
    kind = event.get("type", "?")
    if kind == "initial":
        return f"{tracker.id}: {tracker.status}"
    if kind == "progress":
        of = f"/{tracker.total}" if tracker.total else ""
        return f"step {tracker.done}{of} ({event.get('processingTime')} ms): {tracker.message}"
    message = event.get("message")
    return f"{kind}: {message}" if message else str(kind)


class Bars:
    """A rich progress display: a row per job with its bar, steps done of all, percentage,
    elapsed time, rate and latest message, redrawn in place."""

    def __init__(self, out: TextIO, trackers: list[Tracker]) -> None:
        self.progress = Progress(
            *columns(),
            console=Console(file=out),
            refresh_per_second=REFRESH_PER_SECOND,
            redirect_stdout=False,
            redirect_stderr=False,
            expand=True,
        )
        self.tasks: dict[str, TaskID] = {
            tracker.id: self.progress.add_task(tracker.name, total=None, tracker=tracker)
            for tracker in trackers
        }

    def __enter__(self) -> Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def show(self, tracker: Tracker, event: dict[str, Any] | None) -> None:
        task = self.tasks[tracker.id]
        if tracker.total is not None:
            self.progress.update(task, total=max(tracker.total, tracker.done, 1))
        # A job that ended with no steps at all still gets a full bar.
        done = 1 if tracker.code == 0 and tracker.done == 0 else tracker.done
        self.progress.update(task, completed=done, refresh=True)


class Field(ProgressColumn):
    """A column drawn from the job's tracker."""

    def __init__(self, draw: Callable[[Tracker], Text], column: Column | None = None) -> None:
        super().__init__(column or Column(no_wrap=True))
        self.draw = draw

    def render(self, task: Task) -> Text:
        return self.draw(task.fields["tracker"])


def columns() -> list[ProgressColumn]:
    message = Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=10)
    return [
        Field(lambda t: Text(t.name, style="bold")),
        BarColumn(bar_width=24),
        Field(lambda t: Text(steps(t), justify="right")),
        Field(lambda t: Text(percentage(t), justify="right")),
        Field(lambda t: Text(clock(t.elapsed()), style="cyan")),
        Field(lambda t: Text(speed(t.rate()), justify="right")),
        Field(lambda t: Text(t.status, style=STATUS_STYLES.get(t.status, ""))),
        Field(lambda t: Text(t.message), message),
    ]


def steps(tracker: Tracker) -> str:
    return f"{tracker.done}/{'?' if tracker.total is None else tracker.total}"


def percentage(tracker: Tracker) -> str:
    if tracker.code == 0:
        return "100%"
    if not tracker.total:
        return "  ?%"
    return f"{min(100, 100 * tracker.done // tracker.total):3d}%"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def speed(rate: float | None) -> str:
    return f"{rate:.1f} steps/s" if rate is not None else "- steps/s"
