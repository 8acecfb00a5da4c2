"""A small HTTP client for the CLI: JSON requests and following a job's event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import aiohttp

from ..core import codec

DEFAULT_URL = "http://localhost:3000"
# Reconnects after the server ended a stream early (a restart); then give up.
MAX_RECONNECTS = 10
RECONNECT_SECONDS = 1.0
# A page of GET /jobs: {"jobs": [...], "next_cursor": ...}.
Page = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self._session = session
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(
        self, method: str, path: str, body: Any = None, *,
        headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None,
    ) -> Any:  # fmt: skip
        """The answer's JSON (None if it has no body); ApiError for a 4xx or 5xx."""
        data = None if body is None else codec.dumps(body)
        async with self._session.request(
            method, self.url + path, data=data, params=query,
            headers={**self._headers, **(headers or {})},
        ) as response:  # fmt: skip
            raw = await response.read()
            if response.status >= 400:
                raise ApiError(response.status, _message(raw))
            return codec.loads(raw) if raw else None

    async def jobs(self, query: dict[str, str], every_page: bool) -> AsyncIterator[Page]:
        """GET /jobs a page at a time, following `next_cursor` if `every_page`."""
        query = dict(query)
        while True:
            page: Page = await self.call("GET", "/jobs", query=query)
            yield page
            if not every_page or not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    async def events(self, job_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """The job's events until its final one, reconnecting with Last-Event-ID if cut off."""
        last_id: str | None = None
        for _ in range(MAX_RECONNECTS + 1):
            headers = {**self._headers, "Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            url = f"{self.url}/job/{job_id}/stream"
            async with self._session.get(url, headers=headers) as response:
                if response.status == 204:
                    return
                if response.status >= 400:
                    raise ApiError(response.status, _message(await response.read()))
                async for event_id, data in _parse(response):
                    last_id = event_id or last_id
                    yield codec.loads(data)
            await asyncio.sleep(RECONNECT_SECONDS)


async def _parse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str | None, str]]:
    event_id: str | None = None
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event_id, "\n".join(data)
            event_id, data = None, []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("id:"):
            event_id = line[3:].strip()


def _message(raw: bytes) -> str:
    try:
        body = codec.loads(raw)
    except (codec.DecodeError, UnicodeDecodeError):
        return raw.decode(errors="replace").strip() or "no message"
    return str(body.get("error", body)) if isinstance(body, dict) else str(body)
