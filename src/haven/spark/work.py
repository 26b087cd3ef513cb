"""What a Spark task runs on its share of the files: walk, hash, match, rows. Plain Python over the core.

Each *source* is one file the driver listed (or a path it could not list, so that the walk names the
problem). The task walks it with ``haven.media.walk`` (the walker triage uses: archives, nesting, the
per-source byte budget and limits), hashes every file found with ``haven.hashing`` (every registered
signal its content has; a file whose media cannot be decoded keeps its byte signals and gets the error),
and matches the results in batches with the ``Matcher`` — the same rules as ``haven match``. One row per
file found, one per thing found but not read; nothing a file does fails the task.

Nothing here imports pyspark except to find the index folder Spark shipped to this executor, so every
step is tested without a cluster.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from haven.banks import BankStore
from haven.config import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS
from haven.errors import InputError
from haven.hashing import HashResult, hash_bytes, hash_file
from haven.matching import Match, Matcher, Shard
from haven.matching.matcher import QUERY_DEFAULTS
from haven.media import Entry, Limits, Problem, walk
from haven.signals import Input, all_signals

MATCH_BATCH = 256  # hashed files matched together: one look-up per signal and bank for the batch
# Members of these kinds are walked for what they hold; their own bytes get the byte signals only.
CONTAINERS = ("archive", "disk")


class SourceFile(NamedTuple):
    """One file to scan, with what a rerun compares to skip it: its size and modification time
    (nanoseconds), both -1 when it could not be read (the walk then records why)."""

    path: str
    size: int
    mtime_ns: int


def stat_source(path: str) -> SourceFile:
    """``path`` with its size and mtime (``lstat``: a link is recorded by the walk, never followed)."""
    try:
        st = os.lstat(path)
    except OSError:
        return SourceFile(path, -1, -1)
    if stat.S_ISDIR(st.st_mode):
        return SourceFile(path, -1, -1)  # a folder in a list of files: walked whole, by one task
    return SourceFile(path, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class ScanConfig:
    """Everything a task needs, built once by the driver from the shell's settings (picklable)."""

    database_url: str
    index_dir: str | None = None  # a saved index folder: a path, or the name Spark shipped it under
    shipped: bool = False  # index_dir is a name for ``SparkFiles.get`` on the executor
    banks: tuple[str, ...] | None = None
    threshold: int | None = None
    shards: int = 1
    fast: bool = True
    upscaled: bool = True
    dihedral: bool = QUERY_DEFAULTS.dihedral  # the query-side defaults of `haven match` (haven eval)
    robust: bool = QUERY_DEFAULTS.robust
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    limits: Limits = field(default_factory=Limits)
    run_id: str = ""

    def hash_options(self) -> dict[str, Any]:
        return {
            "fast": self.fast,
            "upscaled": self.upscaled,
            "dihedral": self.dihedral,
            "robust": self.robust,
            "max_pixels": self.max_pixels,
            "max_file_bytes": self.max_file_bytes,
        }


# -- the matcher of this worker process ---------------------------------------------------------------------

_open: dict[tuple[Any, ...], tuple[BankStore, Matcher]] = {}


def matcher_for(config: ScanConfig, shard: Shard | None = None) -> Matcher:
    """This process's ``Matcher`` for ``config`` (and ``shard``), opened once and kept: Spark reuses its
    Python workers, so a worker maps the saved index once for all its tasks. Only one shard is held at a
    time, which is the point of sharding."""
    key = (config.database_url, config.index_dir, config.shipped, config.banks, shard)
    if key not in _open:
        close_matchers()
        index_dir = _index_folder(config, shard)
        store = BankStore(config.database_url)
        try:
            matcher = Matcher(
                store,
                index_dir=index_dir,
                auto_refresh=None,
                load_saved=True,
                banks=config.banks,
                shard=shard,
            )
        except BaseException:
            store.close()
            raise
        _open[key] = (store, matcher)
    return _open[key][1]


def close_matchers() -> None:
    for store, _ in _open.values():
        store.close()
    _open.clear()


def _index_folder(config: ScanConfig, shard: Shard | None) -> Path | None:
    if config.index_dir is None:
        return None
    base = config.index_dir
    if config.shipped:
        from pyspark import SparkFiles

        base = SparkFiles.get(base)
    return Path(base) / shard_folder(shard) if shard is not None else Path(base)


def shard_folder(shard: Shard) -> str:
    return f"shard-{shard[0]}-of-{shard[1]}"


# -- hashing one file ---------------------------------------------------------------------------------------


def byte_signals() -> tuple[str, ...]:
    return tuple(s.name for s in all_signals() if s.input is Input.BYTES)


def hash_entry(entry: Entry, config: ScanConfig) -> tuple[HashResult, InputError | None]:
    """Every signal ``haven.hashing`` gives this file's content, and the error that stopped any of them.

    A container's own bytes get the byte signals (what it holds is walked); any other file is hashed as
    ``haven match`` hashes it, and when that fails (a damaged image) its byte signals are still taken,
    so a banked digest of a broken file is found."""
    label = str(entry.path)
    error: InputError | None = None
    if entry.digests is not None:  # too big to hold: the walk streamed it through the byte signals
        return HashResult(path=label, hashes=dict(entry.digests), size=entry.size), None
    if entry.kind not in CONTAINERS:
        try:
            return _hash(entry, label, None, config.hash_options()), None
        except InputError as exc:
            error = exc
    try:
        return _hash(entry, label, byte_signals(), {}), error
    except InputError as exc:
        return HashResult(path=label, size=entry.size), error or exc


def _hash(entry: Entry, label: str, algorithms: Sequence[str] | None, options: dict[str, Any]) -> HashResult:
    if entry.data is not None:
        result = hash_bytes(entry.data, label, algorithms, **options)
    else:
        assert entry.os_path is not None
        result = hash_file(entry.os_path, algorithms, **options)
    result.path = label
    return result


# -- rows ---------------------------------------------------------------------------------------------------


@dataclass
class Pending:
    """One output row being built: a file found (with its hashes) or a problem."""

    source: SourceFile
    path: str
    depth: int
    record: str  # "file" | "problem"
    mime: str | None = None
    size: int | None = None
    result: HashResult | None = None
    error: InputError | None = None
    skipped: bool = False
    warnings: list[tuple[str, str]] = field(default_factory=list)


def _error_fields(error: InputError | None) -> tuple[str | None, str | None]:
    if error is None:
        return None, None
    return error.code, error.message


def match_row(m: Match) -> dict[str, Any]:
    """A ``Match`` as the output's match struct: ``Match.to_dict()``'s fixed members, and the rest (the
    signal's variant members) as one JSON object in ``extra``."""
    d = m.to_dict()
    row = {k: d.pop(k) for k in MATCH_FIELDS}
    row["extra"] = json.dumps(d, sort_keys=True) if d else None
    return row


MATCH_FIELDS = (
    "bank",
    "signal",
    "value",
    "distance",
    "category",
    "category_scheme",
    "severity",
    "entry_id",
    "series",
    "victim_identified",
)


def to_row(p: Pending, matches: Sequence[Match] | None, config: ScanConfig, now: datetime) -> dict[str, Any]:
    r = p.result
    code, message = _error_fields(p.error)
    return {
        "path": p.path,
        "source": p.source.path,
        "source_size": p.source.size,
        "source_mtime_ns": p.source.mtime_ns,
        "depth": p.depth,
        "record": p.record,
        "mime": p.mime,
        "size": r.size if r is not None and r.size is not None else p.size,
        "hashes": dict(r.hashes) if r is not None else {},
        "quality": dict(r.quality) if r is not None else {},
        "width": r.width if r is not None else None,
        "height": r.height if r is not None else None,
        "low_quality": r.low_quality() if r is not None and r.hashes else None,
        "matches": [match_row(m) for m in matches or ()],
        "error_code": code,
        "error_message": message,
        "skipped": p.skipped,
        "warnings": [{"code": c, "message": msg} for c, msg in p.warnings],
        "run_id": config.run_id,
        "scanned_at": now,
    }


def walk_source(source: SourceFile, config: ScanConfig) -> list[Pending]:
    """Every file in ``source`` hashed, and every problem: one ``Pending`` each, in walk order. A warning
    about a file that has a row (a damaged archive, a CRC mismatch) goes on that row."""
    rows: list[Pending] = []
    by_path: dict[str, Pending] = {}
    for item in walk([source.path], config.limits):
        label = str(item.path)
        if isinstance(item, Problem):
            owner = by_path.get(label)
            if owner is not None and not item.skipped:
                owner.warnings.append((item.error.code, item.error.message))
                continue
            rows.append(
                Pending(source, label, item.path.depth, "problem", error=item.error, skipped=item.skipped)
            )
            continue
        try:
            result, error = hash_entry(item, config)
        except Exception as exc:  # noqa: BLE001 - a decoder bug on one file becomes that file's error row
            result, error = (
                None,
                InputError(f"{label}: {type(exc).__name__}: {exc}", path=label, code="failed"),
            )
        row = Pending(
            source, label, item.path.depth, "file", mime=item.mime, size=item.size, result=result, error=error
        )
        rows.append(row)
        by_path[label] = row
    return rows


def scan_sources(
    sources: Iterable[SourceFile],
    config: ScanConfig,
    match: Callable[[list[HashResult]], list[list[Match]]] | None = None,
) -> Iterator[dict[str, Any]]:
    """The output rows of ``sources``: walked, hashed and matched (by ``match``, default this process's
    ``Matcher`` over every shard at once)."""
    if match is None:
        match = _match_with(matcher_for(config), config)
    batch: list[Pending] = []
    for source in sources:
        batch.extend(walk_source(source, config))
        if len(batch) >= MATCH_BATCH:
            yield from _emit(batch, match, config)
            batch = []
    yield from _emit(batch, match, config)


def _match_with(matcher: Matcher, config: ScanConfig) -> Callable[[list[HashResult]], list[list[Match]]]:
    return lambda results: matcher.match_results(results, threshold=config.threshold)


def _emit(
    batch: list[Pending], match: Callable[[list[HashResult]], list[list[Match]]], config: ScanConfig
) -> Iterator[dict[str, Any]]:
    hashed = [p for p in batch if p.result is not None and p.result.hashes]
    found = dict(zip(map(id, hashed), match([p.result for p in hashed]) if hashed else [], strict=True))  # type: ignore[misc]
    now = datetime.now(UTC)
    for p in batch:
        yield to_row(p, found.get(id(p)), config, now)


# -- partitioned banks: hash once, match per shard, merge ---------------------------------------------------


def hash_sources(sources: Iterable[SourceFile], config: ScanConfig) -> Iterator[Pending]:
    """Stage one of a sharded scan: every row, hashed but not matched."""
    for source in sources:
        yield from walk_source(source, config)


def match_shard(
    shard: Shard, items: Iterable[tuple[int, HashResult]], config: ScanConfig
) -> Iterator[tuple[int, list[Match]]]:
    """Stage two: ``(row key, matches in this shard)`` for each hashed row sent to shard ``shard``."""
    matcher = matcher_for(config, shard)
    batch: list[tuple[int, HashResult]] = []

    def flush() -> Iterator[tuple[int, list[Match]]]:
        found = matcher.match_results([r for _, r in batch], threshold=config.threshold)
        yield from zip((k for k, _ in batch), found, strict=True)

    for item in items:
        batch.append(item)
        if len(batch) >= MATCH_BATCH * 4:
            yield from flush()
            batch = []
    if batch:
        yield from flush()
