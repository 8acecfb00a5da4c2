"""The `jobservice` command line's arguments, and what each command's --help says."""

from __future__ import annotations

import argparse
import os

from .. import __version__
from ..core.models import Status
from . import check
from .api import DEFAULT_URL

ABOUT = """Run the job service, or talk to one over HTTP: submit jobs, follow them with
progress bars, list, cancel and delete them."""

EXIT_STATUSES = """exit status: 0 when every job completed; 1 when one failed or was
cancelled; 2 when a request failed (refused, unknown job, server unreachable)."""

WATCH = """Follow jobs until they end. On a terminal each job gets a progress bar,
redrawn in place: steps done of all, percentage, elapsed time, steps per second and the
latest message. A job type that does not say how many steps it has gets a bar without an
end (steps done, '?' for the total) until it ends. Not on a terminal, one plain line per
event. A stream cut off by a restart is resumed with Last-Event-ID."""

SUBMIT = """Create a job and print it as JSON (several jobs: one JSON line each). The data
is a JSON argument (text that is not JSON is sent as a string), a file (-f FILE), or
standard input (-f -, or when nothing else is given and stdin is not a terminal)."""

LIST = """List jobs, newest first. On a terminal: a table; otherwise, or with --json, one
JSON object per line. Shows one page (--limit jobs); --all follows the cursors through
every page."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jobservice", description=ABOUT)
    top.add_argument("--version", action="version", version=f"jobservice {__version__}")
    top.add_argument(
        "--url",
        default=os.environ.get("JOBSERVICE_URL") or DEFAULT_URL,
        help="the service (default: $JOBSERVICE_URL or %(default)s); $API_TOKEN is sent "
        "as a bearer token when set",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    serve = "run the service here (settings from the environment, see docs/configuration.md)"
    serving = commands.add_parser(
        "serve", help=serve, description=serve[0].upper() + serve[1:] + "."
    )
    serving.add_argument(
        "--processes", type=positive, metavar="N",
        help="serve one port with N processes over the Redis store (default: PROCESSES, 1; "
        "see docs/scaling.md)",
    )  # fmt: skip
    check.add_parser(commands)
    add_submit(commands)
    command(commands, "get", "print a job as JSON").add_argument("id", help="the job's id")
    add_list(commands)
    cancel = command(commands, "cancel", "stop a pending or running job and keep it (as "
                     "cancelled); print it")  # fmt: skip
    cancel.add_argument("id", help="the job's id")
    delete = command(commands, "delete", "delete a job and its events (a pending or running "
                     "job is cancelled first)")  # fmt: skip
    delete.add_argument("id", help="the job's id")
    watch = command(commands, "watch", "follow jobs to their end with a progress bar each",
                    WATCH, EXIT_STATUSES)  # fmt: skip
    watch.add_argument("ids", nargs="+", metavar="ID", help="the jobs' ids")
    return top


def command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str,
    description: str | None = None, epilog: str | None = None,
) -> argparse.ArgumentParser:  # fmt: skip
    """A subcommand: `summary` in the list of commands, `description` atop its --help."""
    return commands.add_parser(
        name,
        help=summary,
        description=description or summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
    )


def add_submit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    submit = command(commands, "submit", "create jobs; --watch follows them", SUBMIT,
                     EXIT_STATUSES + " Without --watch, 0 once created.")  # fmt: skip
    submit.add_argument("data", nargs="?", help="the job's data as JSON (or a plain string)")
    submit.add_argument("-f", "--file", help="read the data from FILE ('-' for stdin)")
    submit.add_argument("--type", help="the job type (default: the server's, demo)")
    submit.add_argument("--priority", type=int, help="higher runs first (default 0)")
    submit.add_argument(
        "--delay", type=float, metavar="SECONDS", help="run no sooner than SECONDS from now"
    )
    submit.add_argument(
        "--max-attempts", type=int, metavar="N", help="run up to N times if attempts fail"
    )
    submit.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="fail an attempt after SECONDS"
    )
    submit.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="a repeated KEY gets the job created with it, not a new one",
    )
    submit.add_argument(
        "--count", type=int, default=1, metavar="N", help="create N jobs alike (default 1)"
    )
    submit.add_argument(
        "--watch", action="store_true", help="then follow them to the end (see watch --help)"
    )


def add_list(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = command(commands, "list", "list jobs, newest first", LIST)
    statuses = [status.value for status in Status]
    listing.add_argument("--status", choices=statuses, help="only jobs with this status")
    listing.add_argument("--type", help="only jobs of this type")
    listing.add_argument(
        "--limit", type=int, default=50, metavar="N", help="jobs per page, 1 to 500 (default 50)"
    )
    listing.add_argument("--all", action="store_true", help="every page, not only the first")
    listing.add_argument("--cursor", help="start at this page (from an earlier list)")
    listing.add_argument("--json", action="store_true", help="JSON lines, even on a terminal")


def positive(raw: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {raw!r}")
    return value
