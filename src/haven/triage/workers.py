"""The per-file work on all cores: a pool of worker processes fed batches of entries, in order.

Threads scaled poorly (2 threads ≈ 1.2× one on 2 cores: Pillow's header parsing, the EXIF
pre-check and building rows hold the GIL), so each worker is a process. The parent keeps the
walk (archives are opened, bounded and read in memory there, exactly as before) and sends each
worker a batch: a folder's file as its path (the worker reads it), an archive member as its bytes.
Workers send back one small ``FileRow`` per file. Results come back in submission order, so rows
reach the case database in walk order, as with one worker.

``jobs=1`` does the work in the calling process (no pool, nothing to start).

A worker that dies (a crash inside a C decoder, the OOM killer) takes its batch with it: the
files of every batch that was in flight are then redone one per task in a fresh pool, and a file
that kills a worker again is recorded as a ``worker_crashed`` error row; the triage goes on.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from haven.config import DEFAULT_MAX_PIXELS
from haven.media.walk import Entry
from haven.triage.casedb import FileRow
from haven.triage.process import failed_row, process_batch

Batch = Sequence[tuple[Entry, int]]


def _context() -> Any:
    """``forkserver`` where there is one: no fork of a parent that may hold threads or an open
    SQLite connection, and workers start from a small, already-imported server (``spawn`` elsewhere)."""
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["haven.triage.process"])
        return ctx
    return multiprocessing.get_context("spawn")


def _watch_parent(pid: int) -> None:
    """Block until process ``pid`` is gone, then end this worker at once."""
    try:
        fd = os.pidfd_open(pid)  # Linux ≥ 5.3: readable when the process exits
    except (AttributeError, OSError):
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
    select.select([fd], [], [])
    os._exit(1)


# glibc malloc: keep up to this much freed memory instead of giving it back to the OS at once.
# A fresh worker's adaptive thresholds stay near its first images' buffer sizes, so it returned
# and re-faulted every decode buffer: about 160 page faults per file, and 1.75x the CPU time per
# file of an in-process loop that had seen big images before (measured; see BENCHMARKS.md).
_MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024
_MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own ceiling for the adaptive threshold


def _tune_malloc() -> None:
    """Raise glibc's trim and mmap thresholds in this process (a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, _MALLOC_TRIM_THRESHOLD)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, _MALLOC_MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _worker_init(parent: int) -> None:
    # Ctrl-C goes to the whole process group: the parent stops the run; workers just end with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _tune_malloc()
    # A pool's workers do not notice their parent's death by themselves (each holds the task
    # queue's write end, and the forkserver's liveness pipe): after ``kill -9`` of triage they would
    # wait forever. Each one watches the triage process and exits with it.
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="haven-parent-watch").start()


def _ping() -> int:
    return os.getpid()


def start_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, checked to start (one round trip), or a clear error."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(), initializer=_worker_init, initargs=(os.getpid(),)
    )
    try:
        pool.submit(_ping).result()
    except BrokenProcessPool as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        raise RuntimeError(
            "cannot start worker processes (a script that runs a triage must guard its entry point "
            "with `if __name__ == '__main__':`); or use one worker (--jobs 1)"
        ) from exc
    return pool


@dataclass
class Pending:
    """A submitted batch: its future (pool) or its rows already computed (``jobs=1``)."""

    batch: Batch
    future: Future[list[FileRow]] | None = None
    rows: list[FileRow] | None = None


class FileWorkers:
    """``with FileWorkers(jobs) as w: p = w.submit(batch); rows = w.result(p)``."""

    def __init__(self, jobs: int, *, fast: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.jobs = max(1, jobs)
        self.fast = fast
        self.max_pixels = max_pixels
        self._pool: ProcessPoolExecutor | None = None
        self.crashes = 0

    def __enter__(self) -> FileWorkers:
        if self.jobs > 1:
            self._pool = start_pool(self.jobs)
        else:
            _tune_malloc()  # this process does the per-file work itself
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _renew(self) -> ProcessPoolExecutor:
        """A fresh pool in place of a broken one (whose futures have all failed already)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = start_pool(self.jobs)
        return self._pool

    def submit(self, batch: Batch) -> Pending:
        if self.jobs == 1:
            return Pending(batch, rows=process_batch(batch, self.fast, self.max_pixels))
        pool = self._pool or self._renew()
        try:
            return Pending(batch, future=pool.submit(process_batch, batch, self.fast, self.max_pixels))
        except BrokenProcessPool:
            future = self._renew().submit(process_batch, batch, self.fast, self.max_pixels)
            return Pending(batch, future=future)

    def result(self, pending: Pending) -> list[FileRow]:
        """The batch's rows, in its order (waits for them)."""
        if pending.rows is not None:
            return pending.rows
        assert pending.future is not None
        try:
            return pending.future.result()
        except BrokenProcessPool:
            return self._one_by_one(pending.batch)

    def _one_by_one(self, batch: Batch) -> list[FileRow]:
        """Redo a batch lost with a dead worker, one file at a time in a separate one-worker pool
        (nothing else runs there, so a death is the file's own), so only the culprit is lost."""
        self.crashes += 1
        rows: list[FileRow] = []
        solo: ProcessPoolExecutor | None = None
        try:
            for entry, source in batch:
                solo = solo or start_pool(1)
                try:
                    rows.extend(
                        solo.submit(process_batch, [(entry, source)], self.fast, self.max_pixels).result()
                    )
                except BrokenProcessPool:
                    rows.append(
                        failed_row(
                            entry,
                            source,
                            "worker_crashed",
                            f"{entry.path}: the worker process died on this file (a crash or out of memory)",
                        )
                    )
                    solo.shutdown(wait=True)
                    solo = None
        finally:
            if solo is not None:
                solo.shutdown(wait=True)
        return rows
