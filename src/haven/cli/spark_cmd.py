"""``haven spark scan|import`` and ``haven bench spark``: bulk work on Apache Spark (``haven[spark]``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from haven.cli.common import emit_json, open_store, progress_bar, settings, stderr, stdout
from haven.errors import UsageError

T = TypeVar("T")

spark_app = typer.Typer(
    help="Bulk hash-and-match and bulk bank imports on Apache Spark (pip install 'haven[spark]').",
    no_args_is_help=True,
)


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise UsageError(
            "Spark support is not installed: pip install 'haven[spark]' (and Java 17+)"
        ) from None


def parse_conf(pairs: list[str] | None) -> dict[str, str]:
    """``--conf key=value`` options → a dict (a UsageError names a malformed one)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--conf wants key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def database_url_for_executors(url: str) -> str:
    """A SQLite URL with an absolute path (executors do not share the driver's working folder)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            return "sqlite:///" + str(Path(path).resolve())
    return url


class _Bar:
    """The CLI's progress: files done, rate and ETA (Spark's own UI has the tasks)."""

    def __init__(self, enabled: bool, what: str) -> None:
        self.progress = progress_bar(enabled=enabled)
        self.task = self.progress.add_task(what, total=None, rate="")
        self.started = time.perf_counter()

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.started
        rate = f"{done / elapsed:.1f} files/s" if elapsed and done else ""
        self.progress.update(self.task, completed=done, total=total, rate=rate)


def _on_spark(
    master: str | None,
    app_name: str,
    conf: list[str] | None,
    progress: bool | None,
    what: str,
    job: Callable[[Any, _Bar], T],
) -> T:
    """Run ``job(spark, progress_bar)`` on a session of its own, stopped whatever happens."""
    from haven.spark.session import build_session

    spark = build_session(master, app_name=app_name, conf=parse_conf(conf))
    show = progress if progress is not None else stderr.is_terminal
    try:
        with _Bar(bool(show), what) as bar:
            return job(spark, bar)
    finally:
        spark.stop()


def scan_command(
    inputs: list[str] = typer.Argument(None, help="Files, folders, archives or globs (quoted) to scan."),
    output: str = typer.Option(..., "--output", "-o", help="Parquet folder (appended to; rerun to resume)."),
    banks: str = typer.Option(None, "--banks", help="Comma-separated bank names (default: all enabled)."),
    lists: list[str] = typer.Option(
        None, "--list", help="A Parquet or CSV file whose 'path' column lists files to scan (repeatable)."
    ),
    master: str = typer.Option(None, "--master", help="Spark master URL (default local[*]; spark-submit's)."),
    shards: int = typer.Option(
        1,
        "--shards",
        min=1,
        help="Split the banks' in-memory index into this many shards (banks too big for one executor).",
    ),
    threshold: int = typer.Option(
        None, "--threshold", "-t", help="Distance threshold for every bank (default: each bank's own)."
    ),
    fast: bool = typer.Option(
        True,
        "--fast/--exact-decode",
        help="Decode large JPEGs at reduced size for PDQ (the fast path; default).",
    ),
    upscaled: bool = typer.Option(
        True,
        "--upscaled/--no-upscaled",
        help="Small images that match nothing: look up their PDQ as if upscaled.",
    ),
    batch_files: int = typer.Option(
        20_000, "--batch-files", min=1, help="Sources per Spark job (the unit a killed run loses)."
    ),
    files_per_task: int = typer.Option(16, "--files-per-task", min=1, help="Sources per Spark task."),
    conf: list[str] = typer.Option(None, "--conf", help="Spark property key=value (repeatable)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="Progress on stderr (default: TTY)."
    ),
) -> None:
    """Hash every file (archives walked) and match it against the banks on Spark; write Parquet rows.

    Each file gets every registered signal its content has, matched with the same rules as
    `haven match`; a file that fails becomes a row with its error (its digests still matched), never a
    failed job. A rerun into the same --output skips the sources whose path, size and mtime are there.
    Exit 1 when a file of this run matched, else 0.
    """
    _require_pyspark()
    if not inputs and not lists:
        raise UsageError("nothing to scan: give files, folders or globs, or --list FILE")
    from haven.spark.scan import run_scan
    from haven.spark.work import ScanConfig

    s = settings()
    names = tuple(sorted({b.strip() for b in banks.split(",") if b.strip()})) if banks else None
    url = database_url_for_executors(s.resolved_database_url)
    open_store(url).close()  # the shell migrates; executors only read
    config = ScanConfig(
        database_url=url,
        banks=names,
        threshold=threshold,
        shards=shards,
        fast=fast,
        upscaled=upscaled,
        max_pixels=s.max_pixels,
        max_file_bytes=s.max_file_bytes,
    )
    summary = _on_spark(
        master,
        "haven spark scan",
        conf,
        progress,
        "scanning",
        lambda spark, bar: run_scan(
            spark,
            inputs or [],
            output,
            config,
            index_dir=s.data_dir / "index",
            lists=lists or [],
            batch_files=batch_files,
            files_per_task=files_per_task,
            on_progress=bar,
        ),
    )
    if json_out:
        emit_json(summary.to_dict())
    else:
        stderr.print(
            f"{summary.sources_scanned} sources scanned ({summary.sources_skipped} already in the output): "
            f"{summary.files} files, {summary.matched} matched, {summary.errors} with errors, "
            f"{summary.problems} problems in {summary.seconds:.1f} s "
            f"({summary.files_per_second:.1f} sources/s, {summary.mode}) → {output}"
        )
    if summary.matched:
        raise typer.Exit(1)


def import_command(
    files: list[str] = typer.Argument(..., help="Hash-list files (csv, pytx, hma, vics)."),
    bank: str = typer.Option(..., "--bank", "-b", help="The bank to load them into (it must exist)."),
    fmt: str = typer.Option(None, "--format", "-f", help="csv, pytx, hma or vics (default: detected)."),
    master: str = typer.Option(None, "--master", help="Spark master URL (default local[*]; spark-submit's)."),
    piece_mb: int = typer.Option(64, "--piece-mb", min=1, help="Size of the pieces imported in parallel."),
    stage: Path = typer.Option(
        None,
        "--stage",
        help="Folder for the pieces, reachable by every executor (default: in the data folder).",
    ),
    actor: str = typer.Option(None, "--actor", help="Who is importing (recorded with each row)."),
    conf: list[str] = typer.Option(None, "--conf", help="Spark property key=value (repeatable)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="Progress on stderr (default: TTY)."
    ),
) -> None:
    """Load very large hash lists into a bank in parallel, then update the saved index.

    Each file is cut into pieces at record boundaries and each piece imported by `haven bank import`'s
    importer; run the same command again to resume: finished pieces are skipped, an interrupted one
    continues from its checkpoint. Exit 2 when records were rejected (the others are kept), else 0.
    """
    _require_pyspark()
    from haven.spark.importer import run_import

    s = settings()
    url = database_url_for_executors(s.resolved_database_url)
    open_store(url).close()
    summary = _on_spark(
        master,
        "haven spark import",
        conf,
        progress,
        "pieces",
        lambda spark, bar: run_import(
            spark,
            files,
            bank,
            database_url=url,
            stage_dir=(stage or s.data_dir / "spark-import").resolve(),
            index_dir=s.data_dir / "index",
            fmt=fmt,
            piece_bytes=piece_mb << 20,
            actor=actor,
            on_progress=bar,
        ),
    )
    if json_out:
        emit_json(summary.to_dict())
    else:
        for message in summary.messages:
            stderr.print(message)
        stderr.print(
            f"{summary.rows_added:,} entries added to {bank} from {summary.records:,} records in "
            f"{summary.pieces} pieces ({summary.pieces_done_before} done before, {summary.pieces_resumed} "
            f"resumed); {summary.errors:,} rejected, {summary.warnings:,} warnings"
        )
    if summary.errors:
        raise typer.Exit(2)


def bench_spark_command(
    photos: Path = typer.Option(Path("../shared/data/photos"), "--photos", help="Folder of JPEG photos."),
    files: int = typer.Option(
        240, "--files", min=8, help="Files to scan (the photos, cycled and re-encoded)."
    ),
    noise: int = typer.Option(
        10_000, "--noise", min=0, help="Random PDQ entries in the bank besides the targets."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """files/s of `haven spark scan` on local[1] and local[2] against `haven match` on one core, same files,
    same run; prints the per-core ratio (goal ≥ 0.8) and the scaling from 1 to 2 cores (goal ≥ 1.7)."""
    _require_pyspark()
    import tempfile

    from haven.spark.bench import run_bench

    with tempfile.TemporaryDirectory(prefix="haven-bench-spark-") as tmp:
        result = run_bench(photos, Path(tmp), files=files, noise=noise)
    if json_out:
        emit_json(result)
        return
    cli = result["haven_match_1_core"]
    stdout.print(
        f"{result['files']} files, bank of {result['bank_entries']:,} entries, {result['cpus']} CPUs, "
        f"load average {result['load_average_before']:.1f} → {result['load_average_after']:.1f}"
    )
    stdout.print(
        f"haven match -j 1     {cli['files_per_second']:8.2f} files/s  ({cli['seconds']} s, process "
        f"start to exit)"
    )
    for n in (1, 2):
        r = result[f"spark_local_{n}"]
        stdout.print(
            f"spark scan local[{n}]  {r['files_per_second']:8.2f} files/s  ({r['seconds']} s; session "
            f"start {r['session_start_s']} s, warm-up {r['warm_up_s']} s not counted)"
        )
    stdout.print(
        f"per-core rate vs haven match: {result.get('per_core_vs_cli')}x (goal ≥ 0.8); "
        f"scaling 1 → 2 cores: {result.get('scaling_1_to_2')}x (goal ≥ 1.7)"
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(spark_app, name="spark")
    spark_app.command("scan")(scan_command)
    spark_app.command("import")(import_command)
    bench.command("spark")(bench_spark_command)
