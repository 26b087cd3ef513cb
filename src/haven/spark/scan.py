"""``haven spark scan``'s driver: list the sources, skip those already in the output, ship the banks' index,
and run the scan in batches, each one Spark job that appends its rows to the Parquet output.

A batch is committed whole or not at all (Spark's output committer), so a killed run loses at most the
batch in flight, and a rerun skips every source whose (path, size, mtime) is in the output already.

The banks reach the executors in one of two ways (docs/scale.md has the numbers):

- **broadcast** (``shards=1``): the saved index files are shipped to every executor (``addFile``), where
  each Python worker's ``Matcher`` memory-maps them — one copy in each node's page cache, shared by its
  workers — and catches up from the database's change log; each task hashes and matches its files;
- **partitioned** (``shards=n``): the in-memory indexes are split into n shards by entry id (each saved
  and shipped on its own); files are hashed once, their hashes sent to every shard, each shard's task
  holds one shard in memory, and each file's matches are merged (``merge_shard_matches``). A bank too big
  for one executor's memory is searched this way.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from haven.banks import BankStore
from haven.matching import MANIFEST, Matcher, merge_shard_matches
from haven.spark.schema import RESUME_KEY, SCAN
from haven.spark.work import (
    ScanConfig,
    SourceFile,
    hash_sources,
    match_shard,
    scan_sources,
    shard_folder,
    stat_source,
    to_row,
)

Progress = Callable[[int, int], None]  # (sources done, sources to do in this run)

SOURCES = StructType(
    [
        StructField("source", StringType(), False),
        StructField("source_size", LongType(), False),
        StructField("source_mtime_ns", LongType(), False),
    ]
)
_GLOB = set("*?[")


@dataclass
class ScanSummary:
    """What one run did (counted from the rows it wrote)."""

    run_id: str
    output: str
    sources_listed: int = 0
    sources_skipped: int = 0  # already in the output from an earlier run
    sources_scanned: int = 0
    files: int = 0  # rows for files found (sources and archive members)
    matched: int = 0  # files with at least one match
    errors: int = 0  # files with an error (their byte signals were still matched)
    problems: int = 0  # things found but not read, and sources that could not be read
    seconds: float = 0.0
    mode: str = "broadcast"

    @property
    def files_per_second(self) -> float:
        return self.sources_scanned / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "files_per_second": round(self.files_per_second, 2)}


# -- listing ------------------------------------------------------------------------------------------------


def list_sources(inputs: Iterable[str]) -> Iterator[SourceFile]:
    """Paths and globs → the files to scan (folders recursively, sorted; links recorded, not followed).
    A path that matches nothing or cannot be listed is passed on as it is, for the walk to name why."""
    for raw in inputs:
        matches = sorted(glob.glob(raw, recursive=True)) if _GLOB & set(raw) else [raw]
        if not matches:
            yield SourceFile(os.path.abspath(raw), -1, -1)
        for path in matches:
            path = os.path.abspath(path)
            if os.path.isdir(path) and not os.path.islink(path):
                yield from _folder(path)
            else:
                yield stat_source(path)


def _folder(root: str) -> Iterator[SourceFile]:
    unreadable: list[OSError] = []
    for folder, dirs, files in os.walk(root, onerror=unreadable.append):
        dirs.sort()
        for name in list(dirs):
            if os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)
                yield stat_source(os.path.join(folder, name))
        for name in sorted(files):
            yield stat_source(os.path.join(folder, name))
    for exc in unreadable:  # the walk of the task that gets it records why it could not be listed
        yield SourceFile(exc.filename or root, -1, -1)


def sources_frame(spark: SparkSession, inputs: Sequence[str], lists: Sequence[str]) -> DataFrame:
    """The sources of a run as a DataFrame: ``inputs`` listed here, ``lists`` (Parquet or CSV files with a
    ``path`` column, for lists too long to walk on one machine) stat'ed by the executors."""
    frames = []
    if inputs:
        frames.append(spark.createDataFrame(list(list_sources(inputs)), SOURCES))
    for name in lists:
        reader = spark.read.option("header", "true") if name.lower().endswith(".csv") else spark.read
        table = reader.csv(name) if name.lower().endswith(".csv") else reader.parquet(name)
        paths = table.select(F.col("path").cast("string")).where(F.col("path").isNotNull())
        frames.append(spark.createDataFrame(paths.rdd.map(lambda r: stat_source(r[0])), SOURCES))
    if not frames:
        return spark.createDataFrame([], SOURCES)
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out.dropDuplicates(RESUME_KEY)


def done_frame(spark: SparkSession, output: str) -> DataFrame | None:
    """The resume keys already in ``output`` (None when it holds nothing yet)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(output)
    if not path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path):  # type: ignore[union-attr]
        return None
    try:
        return spark.read.schema(SCAN).parquet(output).select(*RESUME_KEY).distinct()
    except AnalysisException:
        return None


# -- the banks on the executors -----------------------------------------------------------------------------


def ship_index(
    spark: SparkSession, store: BankStore, config: ScanConfig, index_dir: Path, stage: Path
) -> ScanConfig:
    """Save the banks' index (whole, or one folder per shard), hard-link it into ``stage`` (a folder named
    for this run, so an executor never confuses it with an earlier run's) and ship that to every executor."""
    stage.mkdir(parents=True)
    if config.shards == 1:
        Matcher(store, index_dir=index_dir, auto_refresh=None, banks=config.banks).save_index()
        _link_saved(index_dir, stage)
    else:
        base = index_dir.with_name(index_dir.name + "-shards") / f"of-{config.shards}"
        for k in range(config.shards):
            shard = (k, config.shards)
            folder = base / shard_folder(shard)
            Matcher(store, index_dir=folder, auto_refresh=None, banks=config.banks, shard=shard).save_index()
            _link_saved(folder, stage / shard_folder(shard))
    spark.sparkContext.addFile(str(stage), recursive=True)
    return replace(config, index_dir=stage.name, shipped=True)


def _link_saved(folder: Path, into: Path) -> None:
    import json

    into.mkdir(parents=True, exist_ok=True)
    names = [MANIFEST, *json.loads((folder / MANIFEST).read_text())["indexes"].values()]
    for name in names:
        try:
            os.link(folder / name, into / name)
        except OSError:  # another file system: copy
            shutil.copyfile(folder / name, into / name)


# -- running ------------------------------------------------------------------------------------------------


def run_scan(
    spark: SparkSession,
    inputs: Sequence[str],
    output: str,
    config: ScanConfig,
    *,
    index_dir: Path,
    lists: Sequence[str] = (),
    batch_files: int = 20_000,
    files_per_task: int = 16,
    on_progress: Progress | None = None,
) -> ScanSummary:
    """Scan ``inputs`` (and the paths in ``lists``) into the Parquet folder ``output``; see the module
    docstring. ``index_dir`` is where the banks' saved index lives (it is brought up to date first)."""
    run_id = config.run_id or f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    config = replace(config, run_id=run_id)
    summary = ScanSummary(
        run_id=run_id,
        output=output,
        mode="broadcast" if config.shards == 1 else f"partitioned ({config.shards} shards)",
    )
    started = time.perf_counter()
    sources = sources_frame(spark, inputs, lists).persist(StorageLevel.MEMORY_AND_DISK)
    done = done_frame(spark, output)
    todo = sources if done is None else sources.join(done, RESUME_KEY, "left_anti")
    # Few partitions: the driver pulls the list one partition (one small job) at a time.
    todo = todo.coalesce(max(1, spark.sparkContext.defaultParallelism)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        summary.sources_listed = sources.count()
        total = todo.count()
        summary.sources_skipped = summary.sources_listed - total
        if total:
            stage = index_dir.parent / "spark-ship" / run_id
            store = BankStore(config.database_url)
            try:
                config = ship_index(spark, store, config, index_dir, stage)
            finally:
                store.close()
            try:
                _run_batches(spark, todo, total, output, config, batch_files, files_per_task, on_progress)
            finally:
                shutil.rmtree(stage, ignore_errors=True)  # the executors fetched their copies
    finally:
        todo.unpersist()
        sources.unpersist()
    summary.sources_scanned = total
    summary.seconds = time.perf_counter() - started
    if total:
        _count(spark, output, summary)
    return summary


def _run_batches(
    spark: SparkSession,
    todo: DataFrame,
    total: int,
    output: str,
    config: ScanConfig,
    batch_files: int,
    files_per_task: int,
    on_progress: Progress | None,
) -> None:
    sc = spark.sparkContext
    done = 0
    batch: list[SourceFile] = []

    def flush() -> None:
        nonlocal done, batch
        group = f"haven-scan-{config.run_id}-{done}"
        sc.setJobGroup(group, f"haven spark scan: sources {done + 1}-{done + len(batch)} of {total}")
        watch = _Watch(sc, group, done, len(batch), total, on_progress)
        watch.start()
        try:
            rows = _rows(sc, batch, config, files_per_task)
            spark.createDataFrame(rows, SCAN).write.mode("append").parquet(output)
        finally:
            watch.stop()
        done += len(batch)
        batch = []
        if on_progress is not None:
            on_progress(done, total)

    for r in todo.toLocalIterator():
        batch.append(SourceFile(r["source"], r["source_size"], r["source_mtime_ns"]))
        if len(batch) >= batch_files:
            flush()
    if batch:
        flush()


def _rows(sc: Any, batch: list[SourceFile], config: ScanConfig, files_per_task: int) -> Any:
    """The batch's output rows as an RDD of dicts (broadcast or partitioned, see the module docstring)."""
    tasks = max(1, math.ceil(len(batch) / files_per_task))
    files = sc.parallelize(batch, tasks)
    if config.shards == 1:
        return files.mapPartitions(lambda part: scan_sources(part, config))
    n = config.shards
    hashed = (
        files.mapPartitions(lambda part: hash_sources(part, config))
        .zipWithUniqueId()
        .map(lambda pk: (pk[1], pk[0]))
    )
    hashed = hashed.persist(StorageLevel.MEMORY_AND_DISK)
    queries = hashed.filter(lambda kv: kv[1].result is not None and bool(kv[1].result.hashes)).flatMap(
        lambda kv: [(k, (kv[0], kv[1].result)) for k in range(n)]
    )
    per_shard = queries.partitionBy(n, lambda k: k).mapPartitionsWithIndex(
        lambda k, part: match_shard((k, n), (item for _, item in part), config)
    )
    merged = per_shard.groupByKey().mapValues(merge_shard_matches)

    def rows(part: Iterable[tuple[int, tuple[Any, Any]]]) -> Iterator[dict[str, Any]]:
        now = datetime.now(UTC)
        for _, (pending, matches) in part:
            yield to_row(pending, matches, config, now)

    return hashed.leftOuterJoin(merged).mapPartitions(rows)


class _Watch(threading.Thread):
    """Reports a batch's progress from Spark's status tracker: the share of its first stage's tasks (the
    walking and hashing) that have finished, as sources."""

    def __init__(
        self, sc: Any, group: str, before: int, size: int, total: int, report: Progress | None
    ) -> None:
        super().__init__(daemon=True, name="haven-scan-progress")
        self.sc, self.group, self.before, self.size, self.total = sc, group, before, size, total
        self.report = report
        self.stopped = threading.Event()

    def run(self) -> None:
        if self.report is None:
            return
        tracker = self.sc.statusTracker()
        while not self.stopped.wait(0.5):
            stages = []
            for job in tracker.getJobIdsForGroup(self.group):
                info = tracker.getJobInfo(job)
                if info is not None:
                    stages.extend(info.stageIds)
            first = tracker.getStageInfo(min(stages)) if stages else None
            if first is not None and first.numTasks:
                share = first.numCompletedTasks / first.numTasks
                self.report(self.before + int(self.size * share), self.total)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=2)


def _count(spark: SparkSession, output: str, summary: ScanSummary) -> None:
    rows = spark.read.schema(SCAN).parquet(output).where(F.col("run_id") == summary.run_id)
    files = F.col("record") == "file"
    got = rows.agg(
        F.sum(files.cast("int")).alias("files"),
        F.sum((files & (F.size("matches") > 0)).cast("int")).alias("matched"),
        F.sum((files & F.col("error_code").isNotNull()).cast("int")).alias("errors"),
        F.sum((~files).cast("int")).alias("problems"),
    ).first()
    if got is not None:
        summary.files, summary.matched = int(got["files"] or 0), int(got["matched"] or 0)
        summary.errors, summary.problems = int(got["errors"] or 0), int(got["problems"] or 0)
