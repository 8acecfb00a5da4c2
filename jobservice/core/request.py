"""What a client may ask of a new job: the checked request and the limits on its fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import DEFAULT_TYPE

MAX_PRIORITY = 1_000_000
MAX_DELAY_MS = 366 * 24 * 3600 * 1000
MAX_ATTEMPTS = 100
MAX_TIMEOUT = 366 * 24 * 3600
MAX_KEY_CHARS = 255


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What POST /job asked for, every field checked."""

    data: Any
    type: str = DEFAULT_TYPE
    priority: int = 0
    delay_ms: int = 0
    max_attempts: int = 1
    timeout: float | None = None
    idempotency_key: str | None = None
