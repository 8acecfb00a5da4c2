"""GET /jobs: pages of jobs, newest first, walking the store's creation index from a cursor."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from ..core.models import Status
from ..store.backend import JobBackend
from ..store.index import Key

DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class ListQuery:
    status: Status | None = None
    type: str | None = None
    limit: int = DEFAULT_LIMIT
    after: Key | None = None


async def page(store: JobBackend, query: ListQuery) -> dict[str, Any]:
    """Up to `limit` matching jobs below the cursor, and the cursor of the next page (or null).

    Unfiltered, a page reads `limit` + 1 entries; a filter reads on until it has that many
    matches, so a rare status or type costs a longer walk."""
    found = await store.newest_first(query.after, query.status, query.type, query.limit + 1)
    jobs = found[: query.limit]
    more = len(found) > query.limit
    return {
        "jobs": [job.to_dict() for job in jobs],
        "next_cursor": encode_cursor((jobs[-1].created, jobs[-1].id)) if more else None,
    }


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key in a cursor; ValueError if it is not one this service made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(cursor) from None
    created, sep, job_id = raw.partition(":")
    if not sep or not created.isdigit() or not job_id:
        raise ValueError(cursor)
    return int(created), job_id
