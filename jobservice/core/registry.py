"""Job types: names mapped to handlers, the built-in ones plus an app's own module of them."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from .errors import StartupError
from .handlers import Handler, JobContext, demo_handler
from .models import DEFAULT_TYPE, Job
from .settings import Settings

NOOP_TYPE = "noop"
HANDLERS_ATTRIBUTE = "HANDLERS"


async def noop_handler(job: Job, ctx: JobContext) -> None:
    """No steps: succeeds at once, so benchmarks measure the service and not the work."""


class Registry:
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = dict(handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)


def build_registry(settings: Settings, demo: Handler | None = None) -> Registry:
    """The built-in types, then JOB_HANDLERS' (which replace built-ins of the same name)."""
    handlers: dict[str, Handler] = {
        DEFAULT_TYPE: demo or demo_handler(settings.job_step_ms),
        NOOP_TYPE: noop_handler,
    }
    if settings.job_handlers:
        handlers.update(load_handlers(settings.job_handlers))
    return Registry(handlers)


def load_handlers(module_name: str) -> dict[str, Handler]:
    """The HANDLERS dict of an importable module; StartupError saying what is wrong if not."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise StartupError(f"JOB_HANDLERS: cannot import {module_name!r}: {exc}") from None
    handlers = getattr(module, HANDLERS_ATTRIBUTE, None)
    if (
        not isinstance(handlers, dict)
        or not handlers
        or not all(
            isinstance(name, str) and name and callable(handler)
            for name, handler in handlers.items()
        )
    ):
        raise StartupError(
            f"JOB_HANDLERS: {module_name} must define {HANDLERS_ATTRIBUTE}, a non-empty dict "
            "of type names to async handler functions"
        )
    return handlers
