"""Run a triage: walk the sources, hash every file on all cores into the case database, analyse, output.

The walk (folders, archives read in memory) stays in this process; the per-file work runs in
worker processes (``workers.FileWorkers``), fed batches in walk order and answered in that order.

Resumable: per-file rows are committed in batches; a rerun into the same ``out`` folder skips
the files already stored and then analyses everything, so its outputs equal an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from haven.config import DEFAULT_MAX_PIXELS
from haven.errors import UsageError
from haven.hashing.video import VideoLimits
from haven.matching import Matcher
from haven.media import Entry, EvidencePath, Limits, Problem, walk
from haven.media.evidence import display
from haven.triage.analyse import Analysis, Thresholds, analyse
from haven.triage.casedb import SHA256, CaseDB, FileRow
from haven.triage.export import case_id, files_csv, problems_csv, vics_json
from haven.triage.memory import MemoryPlan, default_max_memory, plan_memory
from haven.triage.process import Work, WorkerHook
from haven.triage.report import render_report
from haven.triage.workers import FileWorkers, Pending, note_temp_folder, remove_stale_temp_folder

OUTPUT_FILES = ("files.csv", "problems.csv", "vics.json", "report.html", "summary.json")
Progress = Callable[[int, int], None]


@dataclass
class TriageOptions:
    out: Path
    thresholds: Thresholds = field(default_factory=Thresholds)
    limits: Limits = field(default_factory=Limits)
    jobs: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    # The exact decode by default: files.csv and vics.json carry values other tools recompute. With the
    # fast decode (big JPEGs decoded at reduced size) the image signals' columns say ``_fast``.
    fast: bool = False
    # With ``robust`` (--robust) images also carry `haven match`'s query-side values (their flips, their
    # value without borders, equalised and of each half: haven eval), so a framed, mirrored or captioned
    # copy of a banked picture is known. Off by default: it costs 12x the per-file work on 320-px
    # pictures, 4x on 2,048-px ones (`haven bench triage`, docs/triage.md). The banks' stored variants
    # are matched either way.
    robust: bool = False
    thumbnails: bool = True
    case_number: str | None = None
    batch_rows: int = 500
    batch_files: int = 32  # files per task sent to a worker process
    # Archive members' bytes per task, at most (one bigger member goes alone).
    batch_bytes: int = 16 * 1024 * 1024
    batch_seconds: float = 2.0
    banks: list[str] | None = None
    max_memory: int | None = None  # bound for the whole process tree (None: half the machine's memory)
    hook: WorkerHook | None = None  # tests only: called with each entry before it is processed
    frame_interval: float = 1.0  # videos: seconds between sampled frames
    video: VideoLimits = field(default_factory=VideoLimits)

    def memory_plan(self) -> MemoryPlan:
        """How ``max_memory`` is shared between the triage process and its workers (``triage.memory``)."""
        jobs = self.jobs or os.cpu_count() or 1
        total = self.max_memory or default_max_memory()
        return plan_memory(total, jobs, self.limits.max_member_bytes, self.batch_bytes)


def _version() -> str:
    from haven import __version__

    return str(__version__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _log(out: Path, event: dict[str, Any]) -> None:
    """Append one JSON line to ``run.log`` (the examiner's record: times, versions, input hashes)."""
    with open(out / "run.log", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": _now(), **event}, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _count_fs_files(sources: list[str]) -> int:
    n = 0
    for s in sources:
        if os.path.isdir(s):
            for _, _, files in os.walk(s):
                n += len(files)
        else:
            n += 1
    return n


def _items(sources: list[str], limits: Limits, done: set[str]) -> Iterator[tuple[int, Entry | Problem]]:
    for idx, src in enumerate(sources):
        for item in walk([src], limits, want=lambda p: str(p) not in done):
            yield idx, item


def collect(sources: list[str], db: CaseDB, opts: TriageOptions, progress: Progress | None = None) -> int:
    """Hash every file not yet in ``db`` on the planned worker processes; returns the new rows' count."""
    done = db.done_paths()
    plan = opts.memory_plan()
    limits = replace(opts.limits, max_member_bytes=plan.hold_bytes)
    work = Work(
        fast=opts.fast,
        robust=opts.robust,
        max_pixels=opts.max_pixels,
        hold_bytes=plan.hold_bytes,
        decode_bytes=plan.decode_bytes,
        hook=opts.hook,
        frame_interval=opts.frame_interval,
        video=opts.video,
    )
    total = max(_count_fs_files(sources), len(done))
    finished = len(done)
    if progress:
        progress(finished, total)
    rows: list[FileRow] = []
    problems: list[tuple[str, str, str, bool]] = []
    written = 0
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal rows, problems, written, last_flush
        if rows or problems:
            db.write(rows, problems)
            written += len(rows)
        rows, problems, last_flush = [], [], time.monotonic()

    pending: deque[tuple[Pending, int]] = deque()
    window = plan.jobs * 3  # batches in flight: keeps every worker busy
    inflight = 0  # members' bytes in those batches, bounded by the memory plan
    batch: list[tuple[Entry, int]] = []
    batch_bytes = 0
    with FileWorkers(plan.jobs, work, worker_bytes=plan.worker_bytes if plan.jobs > 1 else None) as workers:
        if plan.jobs > 1:
            note_temp_folder(opts.out)

        def drain(everything: bool = False) -> None:
            nonlocal finished, total, inflight
            while pending and (everything or len(pending) > window or inflight > plan.inflight_bytes):
                done_batch, size = pending.popleft()
                inflight -= size
                for row in workers.result(done_batch):
                    rows.append(row)
                    problems.extend((row.path, code, message, False) for code, message in row.warnings)
                    finished += 1
                    total = max(total, finished)
                    if progress:
                        progress(finished, total)
                if len(rows) >= opts.batch_rows or time.monotonic() - last_flush > opts.batch_seconds:
                    flush()

        def send() -> None:
            nonlocal batch, batch_bytes, inflight
            if batch:
                pending.append((workers.submit(batch), batch_bytes))
                inflight += batch_bytes
                batch, batch_bytes = [], 0
                drain()

        for idx, item in _items(sources, limits, done):
            if isinstance(item, Problem):
                problems.append((str(item.path), item.error.code, item.error.message, item.skipped))
                continue
            if item.path.depth > 0:
                total += 1
            size = len(item.data) if item.data is not None else 0
            if batch and batch_bytes + size > opts.batch_bytes:
                send()
            batch.append((item, idx))
            batch_bytes += size
            if len(batch) >= opts.batch_files:
                send()
        send()
        drain(everything=True)
    flush()
    return written


def source_manifest(
    sources: list[str], rows: list[FileRow], containers: set[str] | None = None
) -> list[dict[str, Any]]:
    """For the court record: each source's SHA-256 (a file's own; a folder's over its sorted file list),
    its bytes, and how many files triage looked at in it — an archive's or disk image's members, a
    folder's files and the members of the archives in it — and how many ``containers`` it opened."""
    containers = containers or set()
    looked_at: dict[int, int] = {}
    opened: dict[int, int] = {}
    for r in rows:
        if r.path in containers:
            opened[r.source] = opened.get(r.source, 0) + 1
        else:
            looked_at[r.source] = looked_at.get(r.source, 0) + 1
    out = []
    for idx, src in enumerate(sources):
        top = [r for r in rows if r.source == idx and r.depth == 0]
        if os.path.isdir(src):
            h = hashlib.sha256()
            base = str(EvidencePath.source(os.path.abspath(src))) + os.sep
            for r in sorted(top, key=lambda r: r.path):
                # os.path.relpath normalises both paths on every call (a third of this function's
                # time); a path already under the folder, in normal form, just loses the prefix.
                clean = r.path.startswith(base) and os.path.normpath(r.path) == r.path
                rel = r.path[len(base) :] if clean else os.path.relpath(r.path, src)
                h.update(f"{rel}\t{r.get(SHA256)}\t{r.size}\n".encode())
            out.append(
                {
                    "path": display(src),
                    "kind": "folder",
                    "files": looked_at.get(idx, 0),
                    "containers": opened.get(idx, 0),
                    "bytes": sum(r.size or 0 for r in top),
                    "sha256": h.hexdigest(),
                    "sha256_of": "sorted lines 'relative path<TAB>sha256<TAB>size'",
                }
            )
        else:
            own = next((r for r in top if r.path == str(EvidencePath.source(src))), None)
            out.append(
                {
                    "path": display(src),
                    # The container's kind ("archive" …) when it was opened, else "file" (as before).
                    "kind": (own.kind or "container") if own and own.path in containers else "file",
                    "files": looked_at.get(idx, 0),
                    "containers": opened.get(idx, 0),
                    "bytes": own.size if own else None,
                    "sha256": own.get(SHA256) if own else None,
                }
            )
    return out


def finish(
    sources: list[str], db: CaseDB, matcher: Matcher | None, opts: TriageOptions
) -> tuple[Analysis, dict[str, Any], list[dict[str, Any]]]:
    """Analyse the stored rows against the banks as they are now (recorded in case.db, summary.json and
    report.html) and write every output file (atomically)."""
    rows = list(db.files())
    searched = banks_searched(matcher)
    db.set_meta("banks_searched", json.dumps(searched, sort_keys=True))
    analysis = analyse(
        rows, db.problems(), matcher, opts.thresholds, threads=opts.jobs or os.cpu_count() or 1
    )
    summary = analysis.summary()
    manifest = source_manifest(sources, rows, {f.row.path for f in analysis.files if f.status == "container"})
    _store_analysis(db, analysis)
    shown = [display(s) for s in sources]  # valid UTF-8 whatever bytes the source names hold
    cid = case_id(shown)
    out = opts.out
    version = _version()
    _atomic_write(out / "files.csv", files_csv(analysis, db.signals, fast=opts.fast))
    _atomic_write(out / "problems.csv", problems_csv(analysis))
    _atomic_write(
        out / "vics.json",
        vics_json(analysis, sources=shown, case_number=opts.case_number, version=version, fast=opts.fast),
    )
    _atomic_write(
        out / "report.html",
        render_report(
            analysis,
            summary=summary,
            sources=manifest,
            case_id=cid,
            version=version,
            thumbnails=opts.thumbnails,
            limits=opts.limits,
            banks=searched,
        ),
    )
    _atomic_write(
        out / "summary.json",
        json.dumps({**summary, "case_id": cid, "sources": manifest, "banks_searched": searched}, indent=1,
                   sort_keys=True) + "\n",
    )
    return analysis, summary, manifest


def banks_searched(matcher: Matcher | None) -> dict[str, Any]:
    """What the known/unknown verdicts rest on: the banks searched (names, active entries per signal) and
    the change-log position, read after bringing the matcher up to date; or that no bank was searched."""
    if matcher is None:
        return {"banks": [], "entries": {}, "seq": None, "store_id": None, "no_banks": True}
    matcher.refresh()
    return {**matcher.coverage().to_dict(), "no_banks": False}


def _store_analysis(db: CaseDB, a: Analysis) -> None:
    with db.conn:
        db.conn.execute("BEGIN")
        for table in ("matches", "analysis", "series"):
            db.conn.execute(f"DELETE FROM {table}")
        db.conn.executemany(
            "INSERT INTO analysis(path, status, dup_group, representative, series, priority, reasons) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    f.row.path,
                    f.status,
                    f.dup_group,
                    int(f.representative),
                    f.series,
                    f.priority,
                    json.dumps(f.reasons) if f.reasons else None,
                )
                for f in a.files
            ],
        )
        db.conn.executemany(
            "INSERT INTO matches(path, bank, signal, value, distance, category, category_scheme, severity, "
            "series, victim_identified, entry_id, near) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    f.row.path,
                    h.bank,
                    h.signal,
                    h.value,
                    h.distance,
                    h.category,
                    h.category_scheme,
                    h.severity,
                    h.series,
                    None if h.victim_identified is None else int(h.victim_identified),
                    h.entry_id,
                    int(near),
                )
                for f in a.files
                for near, hs in ((0, f.hits), (1, f.near))
                for h in hs
            ],
        )
        db.conn.executemany(
            "INSERT INTO series(id, files, images, unknown, known, touches_known, known_series, "
            "representative) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    s.id,
                    len(s.members),
                    s.images,
                    s.unknown,
                    s.known,
                    int(s.touches_known),
                    json.dumps(s.known_series),
                    s.representative,
                )
                for s in a.series
            ],
        )


def run_triage(
    sources: list[str | Path],
    opts: TriageOptions,
    matcher: Matcher | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole run; returns the summary (with ``out``). Missing sources are a UsageError."""
    abs_sources = [os.path.abspath(os.fspath(s)) for s in sources]
    if not abs_sources:
        raise UsageError("give at least one SOURCE (a folder, archive or disk image)")
    missing = [s for s in abs_sources if not os.path.exists(s)]
    if missing:
        raise UsageError(f"source not found: {', '.join(missing)}")
    plan = opts.memory_plan()  # a bound too small is a usage error before anything is written
    out = opts.out.resolve()
    if any(out == Path(s) or Path(s) in out.parents for s in abs_sources if os.path.isdir(s)):
        raise UsageError("--out must not be inside a source folder (the evidence is never written to)")
    out.mkdir(parents=True, exist_ok=True)
    opts.out = out
    db = CaseDB(out / "case.db")
    try:
        resumed = db.claim(abs_sources)
        db.claim_decode("fast" if opts.fast else "exact")
        stale = remove_stale_temp_folder(out)
        started = time.monotonic()
        _log(
            out,
            {
                "event": "start",
                "tool": "haven triage",
                "version": _version(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "argv": sys.argv,
                "sources": abs_sources,
                "resumed": resumed,
                "banks": banks_searched(matcher),
                "thresholds": opts.thresholds.__dict__,
                "limits": opts.limits.__dict__,
                "memory": plan.describe(),
                "removed_stale_temp_folder": stale,
            },
        )
        new_rows = collect(abs_sources, db, opts, progress)
        hashed = time.monotonic()
        analysis, summary, manifest = finish(abs_sources, db, matcher, opts)
        ended = time.monotonic()
        outputs = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in OUTPUT_FILES}
        _log(
            out,
            {
                "event": "end",
                "new_files": new_rows,
                "seconds_hashing": round(hashed - started, 3),
                "seconds_analysis": round(ended - hashed, 3),
                "summary": summary,
                "banks": json.loads(db.get_meta("banks_searched") or "null"),
                "sources": manifest,
                "outputs_sha256": outputs,
            },
        )
        searched = json.loads(db.get_meta("banks_searched") or "{}")
        entries = sum(searched.get("entries", {}).values())
        short = {"banks": len(searched.get("banks", [])), "entries": entries, "seq": searched.get("seq")}
        return {**summary, "searched": short, "out": str(out)}
    finally:
        db.close()
