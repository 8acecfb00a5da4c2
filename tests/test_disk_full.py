"""A full disk: POST answers 503 and stores nothing half-way; reads go on; it heals by itself.

The disk is real: a 1 MiB tmpfs mounted for the test, which needs root (CI runs as root).
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import StartApp, create_job
from .sse import read_events
from .test_stream import Gate

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; run as root to test a full disk")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                   check=True)  # fmt: skip
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:
        try:
            while True:
                file.write(b"x" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def test_a_full_disk_refuses_new_jobs_then_heals(
    small_disk: Path, start_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    data_dir = small_disk / "data"
    client = await start_app(handler=gate, data_dir=data_dir, worker_concurrency=1)
    running = await create_job(client, "running when the disk fills")
    await gate.started.wait()
    filler = fill(small_disk)

    # The journal's last page may still have room: jobs are accepted until it is full.
    acknowledged = []
    for attempt in range(1000):
        response = await client.post("/job", json={"data": f"try {attempt}"})
        if response.status != 201:
            break
        acknowledged.append(await response.json())
    assert response.status == 503
    assert "could not be stored" in (await response.json())["error"]
    refused = f"try {attempt}"
    assert (await client.get(f"/job/{running['id']}")).status == 200
    gate.open.set()  # the worker finishes the job; saving its outcome waits for the disk
    while "cannot save its state" not in caplog.text:
        await asyncio.sleep(0.05)

    filler.unlink()
    accepted = await create_job(client, "after the disk has room again")
    for job in acknowledged:
        await asyncio.wait_for(read_events(client, job["id"]), timeout=30)
    events = await asyncio.wait_for(read_events(client, running["id"]), timeout=30)
    assert events[-1].json["type"] == "completed"
    await asyncio.wait_for(read_events(client, accepted["id"]), timeout=30)

    await client.close()
    client = await start_app(handler=gate, data_dir=data_dir)
    for job in (running, accepted, *acknowledged):
        assert (await client.get(f"/job/{job['id']}")).status == 200
    assert (await (await client.get(f"/job/{running['id']}")).json())["status"] == "succeeded"
    assert f'"{refused}"' not in (data_dir / "jobs.json").read_text()
