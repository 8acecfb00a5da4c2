"""The `jobservice` console script."""

from __future__ import annotations

import argparse

from . import __version__
from .main import run
from .settings import settings_or_exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="jobservice", description=__doc__)
    parser.add_argument("--version", action="version", version=f"jobservice {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (settings from the environment)")
    parser.parse_args(argv)
    raise SystemExit(run(settings_or_exit()))
