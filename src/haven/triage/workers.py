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

Each worker's memory is bounded by the kernel (``RLIMIT_DATA``, set when it starts to what it
uses then plus its share of ``--max-memory``): an allocation past it fails inside that worker
(a ``MemoryError`` becomes the file's ``out_of_memory`` row; a crash, ``worker_crashed``).
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import multiprocessing.util
import os
import re
import select
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haven.media import Entry
from haven.triage.casedb import FileRow
from haven.triage.process import Work, failed_row, process_batch

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


def _status_kib(field: str) -> int:
    """A ``VmData``/``VmRSS``-style field of this process's ``/proc/self/status``, in KiB (0 if absent)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            found = re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.MULTILINE)
    except OSError:
        return 0
    return int(found.group(1)) if found else 0


def limit_memory(share: int) -> None:
    """Let this process grow by at most what brings its resident memory to ``share`` bytes
    (``RLIMIT_DATA``)."""
    import resource

    data, rss = _status_kib("VmData") * 1024, _status_kib("VmRSS") * 1024
    if not data:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = data + max(share - rss, 0)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _worker_init(parent: int, share: int | None) -> None:
    # Ctrl-C goes to the whole process group: the parent stops the run; workers just end with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _tune_malloc()
    # A pool's workers do not notice their parent's death by themselves (each holds the task
    # queue's write end, and the forkserver's liveness pipe): after ``kill -9`` of triage they would
    # wait forever. Each one watches the triage process and exits with it.
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="haven-parent-watch").start()
    if share is not None:
        limit_memory(share)  # after the thread started: its stack and arena are part of the baseline


def _ping() -> int:
    return os.getpid()


def start_pool(workers: int, share: int | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes (each limited to ``share`` bytes), checked to start, or a clear
    error."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(), initializer=_worker_init, initargs=(os.getpid(), share)
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
    """``with FileWorkers(jobs, work) as w: p = w.submit(batch); rows = w.result(p)``.

    ``worker_bytes`` bounds each worker process's memory (None: unbounded).
    """

    def __init__(self, jobs: int, work: Work = Work(), *, worker_bytes: int | None = None) -> None:
        self.jobs = max(1, jobs)
        self.work = work
        self.worker_bytes = worker_bytes
        self._pool: ProcessPoolExecutor | None = None
        self.crashes = 0

    def __enter__(self) -> FileWorkers:
        if self.jobs > 1:
            self._pool = start_pool(self.jobs, self.worker_bytes)
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
        self._pool = start_pool(self.jobs, self.worker_bytes)
        return self._pool

    def submit(self, batch: Batch) -> Pending:
        if self.jobs == 1:
            return Pending(batch, rows=process_batch(batch, self.work))
        pool = self._pool or self._renew()
        try:
            return Pending(batch, future=pool.submit(process_batch, batch, self.work))
        except BrokenProcessPool:
            return Pending(batch, future=self._renew().submit(process_batch, batch, self.work))

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
                solo = solo or start_pool(1, self.worker_bytes)
                try:
                    rows.extend(solo.submit(process_batch, [(entry, source)], self.work).result())
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


# --- the folder multiprocessing keeps its sockets in -----------------------------------------
# It lives in the system's temporary folder (``pymp-*``) and is removed when the triage process
# exits normally. After ``kill -9`` nothing removes it, so each run notes it in the case folder
# and the next run into that folder removes the one a dead run left.

_TEMP_NOTE = "workers.tmp.json"


def note_temp_folder(out: Path) -> None:
    """Record this process's multiprocessing folder in the case folder ``out`` (call once the pool runs)."""
    folder = multiprocessing.util.get_temp_dir()
    (out / _TEMP_NOTE).write_text(json.dumps({"pid": os.getpid(), "folder": folder}), encoding="utf-8")


def remove_stale_temp_folder(out: Path) -> str | None:
    """Remove the multiprocessing folder a killed earlier run into ``out`` left behind; its path, if any."""
    try:
        note = json.loads((out / _TEMP_NOTE).read_text(encoding="utf-8"))
        pid, folder = int(note["pid"]), str(note["folder"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or _alive(pid) or not os.path.basename(folder).startswith("pymp-"):
        return None
    if not os.path.isdir(folder):
        return None
    shutil.rmtree(folder, ignore_errors=True)
    (out / _TEMP_NOTE).unlink(missing_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
