"""Running the service in this process: logging, the event loop, serving until a signal."""

from __future__ import annotations

import asyncio
import gc
import logging
import resource

from aiohttp import web

from ..core.errors import StartupError
from ..core.handlers import Handler
from ..core.settings import Settings
from ..ops.logs import configure_logging
from .app import create_app
from .supervisor import run_processes

logger = logging.getLogger(__name__)

# Connections the kernel holds for us before we accept them (it caps this at somaxconn).
# aiohttp's default of 128 drops SYNs when thousands of watchers connect at once, and each
# dropped client waits out TCP's retransmission backoff (1, 3, 7, 15 ... seconds).
LISTEN_BACKLOG = 4096
# The garbage collector's thresholds. Python's default (700 allocations) runs a collection
# every few hundred requests or events, and with thousands of open streams each one walks
# a large young generation: with 10,000 watchers that cost a third of the loop and put
# 0.4-0.6 s pauses in delivery (p99); at 50,000 it is 30 ms (BENCHMARKS.md).
GC_THRESHOLDS = (50_000, 20, 100)


def raise_open_file_limit() -> None:
    """Each SSE watcher holds a socket to the client and one to Redis: allow many."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """uvloop if asked for, or if "auto" and it is installed (a dependency); else asyncio."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise StartupError("EVENT_LOOP=uvloop, but uvloop is not installed") from None
        else:
            logger.info("event loop: uvloop")
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def serve(settings: Settings) -> int:
    """Serve in this process, or with PROCESSES > 1 in that many (see supervisor.py)."""
    return run_processes(settings) if settings.processes > 1 else run(settings)


def run(settings: Settings, handler: Handler | None = None) -> int:
    """Serve until SIGINT or SIGTERM, then shut down in order; return the exit status."""
    configure_logging(settings.log_level, settings.log_format)
    raise_open_file_limit()
    gc.set_threshold(*GC_THRESHOLDS)
    logger.info(
        "jobservice on http://%s:%d (data in %s)", settings.host, settings.port, settings.data_dir
    )
    try:
        loop = new_event_loop(settings.event_loop)
        web.run_app(
            create_app(settings, handler),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout,
            print=None,
            backlog=LISTEN_BACKLOG,
            reuse_port=settings.reuse_port or None,
            loop=loop,
        )
    except StartupError as exc:
        logger.critical("cannot start: %s", exc)
        return 1
    return 0
