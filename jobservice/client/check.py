"""`jobservice check [DATA_DIR] [--fix]`: look for damage in a stopped service's files, and on
request move it aside so the service starts with the rest."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from ..core.errors import DataDirInUse
from ..store.check import check

# Exit statuses: damage found (and left) is 1; a directory that could not be checked is 2.
DAMAGED = 1
CANNOT_CHECK = 2


def add_parser(commands: Any) -> None:
    command = commands.add_parser(
        "check", help="check a stopped service's data directory; --fix moves damage aside"
    )
    command.add_argument(
        "data_dir",
        nargs="?",
        type=Path,
        default=Path(os.environ.get("DATA_DIR") or "data"),
        help="the service's DATA_DIR (default: $DATA_DIR or %(default)s)",
    )
    command.add_argument(
        "--fix",
        action="store_true",
        help="move damaged files into DATA_DIR/damaged-<time>/ (nothing is deleted) and write "
        "a snapshot of every intact job, so the service starts",
    )


def run(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(check(args.data_dir, fix=args.fix))
    except (DataDirInUse, OSError) as exc:
        print(f"jobservice check: {exc}", file=sys.stderr)
        return CANNOT_CHECK
    print("\n".join(report.lines()))
    return DAMAGED if report.damaged and report.aside is None else 0
