"""All jobs in memory; every change is journaled before it is acknowledged, and snapshotted.

Jobs loaded finished from the snapshot stay as their JSON bytes (`Stored`), parsed when asked
for: startup and memory then cost little per stored job. Jobs that run or change in this
process are `Job` objects.

On disk, under the data dir:
  jobs.json            snapshot: {id: job} for every job, one job per line (snapshot.py)
  queue.json           snapshot: ids of pending jobs, in queue order
  manifest.json        what the snapshot holds and which journal records it covers
  journal-NNNNNN.jsonl the changes since the snapshot, one JSON line each (journal.py)
Every line and file carries a checksum (integrity.py); loading checks them (loading.py). A
snapshot commits through its manifest (manifest.py); the journals it covers are deleted only
after it is on disk.
Records are whole jobs ({"put": job}) or deletions ({"del": id}), so replaying one twice is
harmless: load = snapshot + journals, in order. A job deleted while a snapshot is being written
may still be in that snapshot, but its "del" is in the journal the snapshot does not cover.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..core import codec
from ..core.models import TERMINAL_STATUSES, Job, Status
from ..core.observer import Observer, Unobserved
from .index import CreationIndex, Key
from .integrity import Problems
from .journal import Journal
from .loading import StoreFiles, generation, journal_path, journals
from .manifest import JOBS_FILE, commit_snapshot
from .mark import Marker
from .snapshot import Stored, snapshot_lines

logger = logging.getLogger(__name__)

# Jobs serialized between two yields to the event loop while writing a snapshot.
SNAPSHOT_CHUNK = 2_000


class JobStore:
    def __init__(
        self, data_dir: Path, compact_every: int = 10_000, observer: Observer | None = None
    ) -> None:
        self.data_dir = data_dir
        self.compact_every = compact_every
        self.queue_order: list[str] = []
        self._jobs: dict[str, Job] = {}
        self._stored: dict[str, Stored] = {}
        self._index = CreationIndex()
        self._by_idempotency_key: dict[str, str] = {}
        self._journal: Journal | None = None
        self._marker = Marker(data_dir, self._written)
        self._compaction: asyncio.Task[None] | None = None
        self._observer = observer or Unobserved()

    def __len__(self) -> int:
        return len(self._jobs) + len(self._stored)

    def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None and (stored := self._stored.get(job_id)) is not None:
            return stored.job()
        return job

    def with_status(self, status: Status) -> Iterator[Job]:
        """Jobs in a status that has not ended (ended ones loaded from disk are not scanned)."""
        assert status not in TERMINAL_STATUSES
        return (job for job in self._jobs.values() if job.status is status)

    def ended_before(self, cutoff: int) -> Iterator[Job]:
        """Jobs that ended before `cutoff` (epoch ms); only those are parsed. Take what you
        need from it before the store changes."""
        yield from (s.job() for s in self._stored.values() if s.updated < cutoff)
        yield from (
            job for job in self._jobs.values()
            if job.status in TERMINAL_STATUSES and job.updated < cutoff
        )  # fmt: skip

    def by_idempotency_key(self, key: str) -> Job | None:
        job_id = self._by_idempotency_key.get(key)
        return None if job_id is None else self.get(job_id)

    def newest_first(
        self, before: Key | None = None, status: Status | None = None, type: str | None = None
    ) -> Iterator[Job]:
        """Jobs from the newest down, below the (created, id) key `before`, that match the
        status and type given; only those that match are parsed."""
        for _created, job_id in self._index.newest_first(before):
            job = self._jobs.get(job_id)
            summary: Job | Stored = job if job is not None else self._stored[job_id]
            if (status is None or summary.status is status) and (type in (None, summary.type)):
                yield job if job is not None else self._stored[job_id].job()

    async def open(self) -> None:
        """Load the data directory; CorruptFileError, naming the file and line, on damage."""
        await asyncio.to_thread(self.data_dir.mkdir, parents=True, exist_ok=True)
        leftover = await asyncio.to_thread(journals, self.data_dir)
        # Loading allocates millions of objects that all stay: a collection in the middle is
        # pure cost, and afterwards the collector need not rescan them (freeze).
        gc.disable()
        try:
            files = await asyncio.to_thread(self.load, Problems(strict=True), True)
        finally:
            gc.freeze()
            gc.enable()
        self._journal = await self._open_journal(files.generation + 1, (files.seq or 0) + 1)
        self._marker.start()
        logger.info("loaded from %s: %d jobs", self.data_dir, len(self))
        if leftover or files.unsealed:
            self._start_compaction()

    def load(self, problems: Problems, finish: bool) -> StoreFiles:
        """Read the data directory into memory. Damage goes to `problems`: in the service it
        raises; for a check it is collected, and every intact record is loaded."""
        files = StoreFiles(self.data_dir, problems, finish)
        keys: list[Key] = []
        for number, job_id, raw in files.snapshot():
            self._load_stored(files, number, job_id, raw, keys)
        self._index.load(keys)
        for path, number, record in files.records():
            try:
                if "del" in record:
                    self._forget([job] if (job := self.get(record["del"])) else [])
                else:
                    self._put(record["put"])
            except (KeyError, TypeError, ValueError):
                problems.damage(path, number, "cannot be read as a change to a job")
        self.queue_order = files.queue()
        return files

    async def close(self) -> None:
        """Leave a complete snapshot behind and no journal."""
        await self._marker.stop()
        if self._compaction is not None:
            await self._compaction
        await self._compact()
        assert self._journal is not None
        await self._journal.close()
        if self._journal.entries == 0:
            await asyncio.to_thread(self._journal.path.unlink, missing_ok=True)
        logger.info("saved to %s: %d jobs", self.data_dir, len(self))

    def _written(self) -> int:
        """The sequence number of the last record on disk."""
        assert self._journal is not None
        return self._journal.next_seq - 1

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
        begun = time.perf_counter()
        await self._journal.append({"put": job.to_dict()})
        self._observer.persisted(time.perf_counter() - begun)
        self._compact_if_due()

    def save_soon(self, job: Job) -> None:
        """Journal the job as it is now, in order with every other change, without waiting for
        the disk: for a change that a crash may lose without harm."""
        assert self._journal is not None
        self._journal.append_soon({"put": job.to_dict()})
        self._compact_if_due()

    def _compact_if_due(self) -> None:
        assert self._journal is not None
        # Rewriting the snapshot costs O(jobs), so do it once the journal is as long as the
        # snapshot: the cost per change stays constant however many jobs are stored.
        threshold = max(self.compact_every, len(self._jobs))
        if self._journal.entries >= threshold and self._compaction is None:
            self._start_compaction()

    def _load_stored(self, files: StoreFiles, number: int, job_id: str, raw: bytes,
                     keys: list[Key]) -> None:  # fmt: skip
        """A snapshot's job: kept as bytes if it has ended, else made a Job (it will run)."""
        try:
            stored = Stored.parse(raw)
            job = None if stored.status in TERMINAL_STATUSES else Job.from_dict(codec.loads(raw))
        except (KeyError, TypeError, ValueError):
            files.problems.damage(files.data_dir / JOBS_FILE, number, "cannot be read as a job")
            return
        if job is None:
            self._stored[job_id] = stored
        else:
            self._jobs[job_id] = job
        keys.append((stored.created, job_id))
        if stored.idempotency_key is not None:
            self._by_idempotency_key[stored.idempotency_key] = job_id

    def _put(self, raw: dict[str, Any]) -> None:
        job = Job.from_dict(raw)
        if job.id in self._jobs or self._stored.pop(job.id, None) is not None:
            self._jobs[job.id] = job
        else:
            self._remember(job)

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._index_job(job.created, job.id, job.idempotency_key)

    def _index_job(self, created: int, job_id: str, idempotency_key: str | None) -> None:
        self._index.add((created, job_id))
        if idempotency_key is not None:
            self._by_idempotency_key[idempotency_key] = job_id

    def _forget(self, jobs: list[Job]) -> None:
        for job in jobs:
            # pop, not del: a failed add and a DELETE that raced it may both forget the job.
            if self._jobs.pop(job.id, None) is None:
                self._stored.pop(job.id, None)
            if job.idempotency_key is not None:
                self._by_idempotency_key.pop(job.idempotency_key, None)
        self._index.discard({(job.created, job.id) for job in jobs})

    async def _open_journal(self, number: int, next_seq: int) -> Journal:
        journal = Journal(journal_path(self.data_dir, number))
        await journal.open()
        journal.start(next_seq)
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
        covered = await asyncio.to_thread(journals, self.data_dir)
        old = self._journal
        new = Journal(journal_path(self.data_dir, generation(old.path) + 1))
        await new.open()
        self._journal = new
        try:
            await old.close()
        finally:
            # Numbered on from the old journal's last record, once that one is final.
            new.start(old.next_seq)
        await self.write_snapshot(generation(old.path), old.next_seq - 1)
        for path in covered:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def write_snapshot(self, journal: int, seq: int) -> None:
        """Write every job in memory as the snapshot holding the journals up to `journal` and
        the records up to `seq`."""
        entries = await self._snapshot_entries()
        pending = codec.dumps([job.id for job in self.with_status(Status.PENDING)])
        # Sealing a million lines takes a while: off the event loop.
        chunks = await asyncio.to_thread(snapshot_lines, entries)
        await commit_snapshot(self.data_dir, chunks, len(entries), pending, journal, seq)

    async def _snapshot_entries(self) -> list[tuple[str, bytes]]:
        """Stored jobs as they are, the others serialized a chunk at a time between yields."""
        entries = [(job_id, stored.raw) for job_id, stored in self._stored.items()]
        jobs = list(self._jobs.values())
        for start in range(0, len(jobs), SNAPSHOT_CHUNK):
            await asyncio.sleep(0)
            entries += [(job.id, codec.dumps(job.to_dict()))
                        for job in jobs[start : start + SNAPSHOT_CHUNK]]  # fmt: skip
        return entries


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
