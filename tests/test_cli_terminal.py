"""The CLI on a terminal: a pseudo terminal runs it, and a terminal emulator (pyte) reads the
screen it leaves, as a person would see it."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import struct
import termios
from typing import Any

import pyte

from .conftest import Client, StartApp, create_job
from .test_cli import SCRIPT
from .test_process import HANG

COLUMNS, ROWS = 120, 30


class Terminal:
    """One CLI command in a pseudo terminal of COLUMNS x ROWS, its output read as it comes."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self._stream = pyte.ByteStream(self.screen)
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._fd = -1
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, client: Client, *args: str) -> None:
        self._fd, tty = os.openpty()
        fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        environ.update(JOBSERVICE_URL=str(client.make_url("")), TERM="xterm-256color")
        environ.pop("API_TOKEN", None)
        self._process = await asyncio.create_subprocess_exec(
            str(SCRIPT), *args, stdin=tty, stdout=tty, stderr=tty, env=environ,
            start_new_session=True,
        )  # fmt: skip
        os.close(tty)
        asyncio.get_running_loop().add_reader(self._fd, self._read)

    def _read(self) -> None:
        try:
            chunk = os.read(self._fd, 65536)
        except OSError as exc:  # EIO: the command ended and the terminal is closed
            assert exc.errno == errno.EIO
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._closed.set()
        self.raw += chunk
        self._stream.feed(chunk)
        self._changed.set()

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    async def wait_for(self, text: str) -> None:
        """Until `text` is on the screen."""
        async with asyncio.timeout(HANG):
            while not any(text in line for line in self.lines):
                self._changed.clear()
                await self._changed.wait()

    async def finish(self) -> int:
        assert self._process is not None
        async with asyncio.timeout(HANG):
            code = await self._process.wait()
            await self._closed.wait()
        os.close(self._fd)
        return code


async def run(client: Client, *args: str) -> tuple[int, Terminal]:
    terminal = Terminal()
    await terminal.start(client, *args)
    return await terminal.finish(), terminal


def rows_of(terminal: Terminal, name: str) -> list[str]:
    return [line for line in terminal.lines if line.startswith(name)]


async def test_watch_draws_a_bar_per_job_redrawn_in_place(client: Client) -> None:
    jobs = [await create_job(client) for _ in range(2)]
    code, terminal = await run(client, "watch", *(job["id"] for job in jobs))
    assert code == 0, terminal.lines
    for job in jobs:
        name = job["id"].rsplit("-", 1)[1]  # the id's random tail
        rows = rows_of(terminal, name)
        assert len(rows) == 1, terminal.lines  # one row, however often it was drawn
        row = rows[0]
        assert "5/5" in row and "100%" in row and "succeeded" in row, row
        assert "steps/s" in row and "Job processing completed" in row, row
    # Every step was drawn, each over the last: the cursor went back up, nothing scrolled.
    for step in range(1, 6):
        assert f"{step}/5".encode() in terminal.raw
    assert b"\x1b[1A" in terminal.raw and b"\x1b[2K" in terminal.raw
    assert len([line for line in terminal.lines if line]) == 2


async def test_a_bar_without_a_total_moves_until_the_job_ends(start_app: StartApp) -> None:
    gate = asyncio.Event()

    async def two_steps(job: object, ctx: Any) -> None:
        await ctx.progress("first half")  # no total: the handler does not say
        await gate.wait()
        await ctx.progress("second half")

    client = await start_app(handler=two_steps)
    terminal = Terminal()
    await terminal.start(client, "submit", "--watch", '"x"')
    await terminal.wait_for("first half")
    row = next(line for line in terminal.lines if "first half" in line)
    assert "1/?" in row and "?%" in row and "processing" in row, row
    gate.set()
    assert await terminal.finish() == 0
    row = next(line for line in terminal.lines if "succeeded" in line)
    assert "2/2" in row and "100%" in row, row


async def test_a_failed_job_shows_its_error_and_exits_1(start_app: StartApp) -> None:
    async def broken(job: object, ctx: Any) -> None:
        await ctx.progress("one", total=4)
        raise RuntimeError("disk on fire")

    client = await start_app(handler=broken)
    code, terminal = await run(client, "submit", "--watch", "1")
    assert code == 1
    row = next(line for line in terminal.lines if "failed" in line)
    assert "1/4" in row and "25%" in row and "disk on fire" in row, row


async def test_list_draws_a_table_on_a_terminal(client: Client) -> None:
    jobs = [await create_job(client, n) for n in range(3)]
    code, terminal = await run(client, "list")
    assert code == 0, terminal.lines
    header, *rows = [line for line in terminal.lines if line]
    assert header.split() == ["id", "status", "type", "created", "ran", "steps", "error"]
    assert [row.split()[0] for row in rows] == [job["id"] for job in reversed(jobs)]
    code, terminal = await run(client, "list", "--json")
    assert code == 0
    listed = [json.loads(line) for line in terminal.raw.decode().splitlines()]  # lines wrap
    assert [job["id"] for job in listed] == [job["id"] for job in reversed(jobs)]
