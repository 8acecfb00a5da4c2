"""All jobs in memory; every change is journaled before it is acknowledged, and snapshotted.

On disk, under the data dir:
  jobs.json            snapshot: {id: job} for every job
  queue.json           snapshot: ids of pending jobs, in queue order
  journal-NNNNNN.jsonl the changes since the snapshot, one JSON line each
A snapshot is written atomically; the journals it covers are deleted only after it is on disk.
Records are whole jobs ({"put": job}) or deletions ({"del": id}), so replaying one twice is
harmless: load = snapshot + journals, in order. A job deleted while a snapshot is being written
may still be in that snapshot, but its "del" is in the journal the snapshot does not cover.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import codec
from .index import CreationIndex, Key
from .journal import CorruptFileError, Journal, read_journal, write_atomic
from .models import Job, Status

logger = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"
QUEUE_FILE = "queue.json"
JOURNAL_GLOB = "journal-*.jsonl"
# Jobs serialized between two yields to the event loop while writing a snapshot.
SNAPSHOT_CHUNK = 2_000


class JobStore:
    def __init__(self, data_dir: Path, compact_every: int = 10_000) -> None:
        self.data_dir = data_dir
        self.compact_every = compact_every
        self.queue_order: list[str] = []
        self._jobs: dict[str, Job] = {}
        self._index = CreationIndex()
        self._by_idempotency_key: dict[str, str] = {}
        self._journal: Journal | None = None
        self._compaction: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def with_status(self, status: Status) -> Iterator[Job]:
        return (job for job in self._jobs.values() if job.status is status)

    def by_idempotency_key(self, key: str) -> Job | None:
        job_id = self._by_idempotency_key.get(key)
        return None if job_id is None else self._jobs.get(job_id)

    def newest_first(self, before: Key | None = None) -> Iterator[Job]:
        """Jobs from the newest down, starting below the (created, id) key `before`."""
        return (self._jobs[job_id] for _created, job_id in self._index.newest_first(before))

    async def open(self) -> None:
        await asyncio.to_thread(self.data_dir.mkdir, parents=True, exist_ok=True)
        journals = sorted(self.data_dir.glob(JOURNAL_GLOB))
        await asyncio.to_thread(self._load, journals)
        # The loaded jobs live long: keep the garbage collector from rescanning them all.
        gc.freeze()
        generation = _generation(journals[-1]) + 1 if journals else 1
        self._journal = await self._open_journal(generation)
        logger.info("loaded %d jobs from %s", len(self._jobs), self.data_dir)
        if journals:
            self._start_compaction()

    async def close(self) -> None:
        """Leave a complete snapshot behind and no journal."""
        if self._compaction is not None:
            await self._compaction
        await self._compact()
        assert self._journal is not None
        await self._journal.close()
        if self._journal.entries == 0:
            await asyncio.to_thread(self._journal.path.unlink, missing_ok=True)

    async def add(self, job: Job) -> None:
        """Store a new job durably; if the disk refuses it, it is as if it never came."""
        self._remember(job)
        try:
            await self.save(job)
        except BaseException:
            self._forget([job])
            raise

    async def delete(self, jobs: list[Job]) -> None:
        """Remove the jobs from memory at once, then journal their deletion."""
        self._forget(jobs)
        journal = self._journal
        assert journal is not None
        # Appended together, they share the journal's fsyncs.
        await asyncio.gather(*(journal.append({"del": job.id}) for job in jobs))

    async def save(self, job: Job) -> None:
        """Journal the job as it is now. Mutate it first: a snapshot may copy it at any await."""
        assert self._journal is not None
        await self._journal.append({"put": job.to_dict()})
        # Rewriting the snapshot costs O(jobs), so do it once the journal is as long as the
        # snapshot: the cost per change stays constant however many jobs are stored.
        threshold = max(self.compact_every, len(self._jobs))
        if self._journal.entries >= threshold and self._compaction is None:
            self._start_compaction()

    def _load(self, journals: list[Path]) -> None:
        snapshot = self.data_dir / JOBS_FILE
        if snapshot.exists():
            for raw in _read_json(snapshot, dict).values():
                self._put(raw)
        for journal in journals:
            for record in read_journal(journal):
                if "del" in record:
                    self._forget([job] if (job := self._jobs.get(record["del"])) else [])
                else:
                    self._put(record["put"])
        queue = self.data_dir / QUEUE_FILE
        if queue.exists():
            self.queue_order = _read_json(queue, list)

    def _put(self, raw: dict[str, Any]) -> None:
        job = Job.from_dict(raw)
        if job.id in self._jobs:
            self._jobs[job.id] = job
        else:
            self._remember(job)

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._index.add((job.created, job.id))
        if job.idempotency_key is not None:
            self._by_idempotency_key[job.idempotency_key] = job.id

    def _forget(self, jobs: list[Job]) -> None:
        for job in jobs:
            del self._jobs[job.id]
            if job.idempotency_key is not None:
                self._by_idempotency_key.pop(job.idempotency_key, None)
        self._index.discard({(job.created, job.id) for job in jobs})

    async def _open_journal(self, generation: int) -> Journal:
        journal = Journal(self.data_dir / f"journal-{generation:06d}.jsonl")
        await journal.open()
        return journal

    def _start_compaction(self) -> None:
        self._compaction = asyncio.create_task(self._compact_in_background(), name="compaction")

    async def _compact_in_background(self) -> None:
        try:
            await self._compact()
        except Exception:
            logger.exception("compaction failed; the journal keeps growing until it works")
        finally:
            self._compaction = None

    async def _compact(self) -> None:
        """Switch to a new journal, snapshot memory, then drop the journals the snapshot covers."""
        assert self._journal is not None
        covered = sorted(self.data_dir.glob(JOURNAL_GLOB))
        old = self._journal
        self._journal = await self._open_journal(_generation(old.path) + 1)
        await old.close()
        await write_atomic(self.data_dir / JOBS_FILE, await self._snapshot_chunks())
        pending = [job.id for job in self.with_status(Status.PENDING)]
        await write_atomic(self.data_dir / QUEUE_FILE, [codec.dumps(pending)])
        for path in covered:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _snapshot_chunks(self) -> list[bytes]:
        jobs = list(self._jobs.values())
        chunks = [b"{"]
        for start in range(0, len(jobs), SNAPSHOT_CHUNK):
            if start:
                chunks.append(b",")
                await asyncio.sleep(0)
            chunks.append(b",".join(_entry(job) for job in jobs[start : start + SNAPSHOT_CHUNK]))
        chunks.append(b"}")
        return chunks


def _entry(job: Job) -> bytes:
    return codec.dumps(job.id) + b":" + codec.dumps(job.to_dict())


def _generation(path: Path) -> int:
    return int(path.stem.removeprefix("journal-"))


def _read_json(path: Path, kind: type) -> Any:
    try:
        value = codec.loads(path.read_bytes())
    except (codec.DecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path} is not valid JSON ({exc}); it was left as it is") from None
    if not isinstance(value, kind):
        raise CorruptFileError(f"{path} should hold a JSON {kind.__name__}; it was left as it is")
    return value


def ordered_pending(store: JobStore) -> Iterable[Job]:
    """Pending jobs in queue order: queue.json's order first, then the rest by arrival."""
    seen: set[str] = set()
    for job_id in store.queue_order:
        job = store.get(job_id)
        if job is not None and job.status is Status.PENDING and job_id not in seen:
            seen.add(job_id)
            yield job
    for job in store.with_status(Status.PENDING):
        if job.id not in seen:
            yield job
