"""``haven triage`` (forensic triage of a seized collection) and ``haven bench triage``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from haven.cli.common import emit_json, open_matcher, open_store, progress_bar, settings, stderr, stdout
from haven.errors import UsageError
from haven.media import Limits
from haven.signals import PDQ_MATCH_THRESHOLD
from haven.triage import Thresholds, TriageOptions, run_triage
from haven.triage.analyse import SERIES_THRESHOLD

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``"4G"``, ``"1536M"``, ``"512MiB"`` or plain bytes → bytes (binary units); a UsageError otherwise."""
    clean = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (clean[:-1], clean[-1]) if clean[-1:] in _UNITS and clean[-1:] else (clean, "")
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise UsageError(f"not a size: {text!r} (use e.g. 4G, 1536M or a number of bytes)") from None
    if value <= 0:
        raise UsageError(f"a size must be positive, got {text!r}")
    return int(value)


def triage_command(
    sources: list[Path] = typer.Argument(
        ..., metavar="SOURCE", help="Folders, zip/tar archives, raw or E01 disk images."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created; rerun into it to resume)."),
    banks: str = typer.Option(
        None, "--banks", help="Comma-separated bank names (default: all enabled banks)."
    ),
    no_banks: bool = typer.Option(
        False,
        "--no-banks",
        help="Triage without any bank (nothing is matched: every image is 'unknown'); without it, triage "
        "refuses to run when no enabled bank holds entries.",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the summary as one JSON object (the last line)."
    ),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="Progress bar on stderr (default: on a TTY)."
    ),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        help="Worker processes for the per-file work (auto: one per core; 1: none).",
        show_default="auto",
    ),
    match_threshold: int = typer.Option(
        PDQ_MATCH_THRESHOLD, "--threshold", help="PDQ distance to a bank entry for 'known'."
    ),
    dup_threshold: int = typer.Option(
        PDQ_MATCH_THRESHOLD, "--dup-threshold", help="PDQ distance for near-duplicates."
    ),
    series_threshold: int = typer.Option(
        SERIES_THRESHOLD,
        "--series-threshold",
        help="PDQ distance joining images into a series / near a known series.",
    ),
    upscaled: bool = typer.Option(
        True,
        "--upscaled/--no-upscaled",
        help="Also look up images under 768 px by their PDQ as if upscaled (PDQ drifts on thumbnails).",
    ),
    robust: bool = typer.Option(
        False,
        "--robust/--plain",
        help="Also look up each image's flips, its value without borders, equalised and of each half, as "
        "`haven match` does (framed, mirrored, captioned copies of banked pictures); 4-12x the per-file "
        "work, so off by default (--plain hashes each image once).",
    ),
    max_depth: int = typer.Option(3, "--max-depth", help="Containers opened inside containers."),
    thumbnails: bool = typer.Option(
        True, "--thumbnails/--no-thumbnails", help="Blurred series thumbnails in the report."
    ),
    case_number: str = typer.Option(None, "--case-number", help="Case number written into the VICS export."),
    fast: bool = typer.Option(
        False,
        "--fast",
        help="Decode big JPEGs at reduced size for PDQ: faster, but the values are a few bits off what "
        "`haven hash` and other tools compute, so files.csv names them pdq_fast and vics.json leaves them "
        "out (default: the exact decode).",
    ),
    exact_decode: bool = typer.Option(False, "--exact-decode", hidden=True, help="The default now."),
    frame_interval: float = typer.Option(
        1.0, "--vpdq-interval", "--frame-interval", min=0.0,
        help="Videos: seconds between sampled frames (0: every frame)."),
    max_memory: str = typer.Option(
        None,
        "--max-memory",
        help="Memory bound for the whole run, workers included, e.g. 4G (default: half the machine's "
        "memory).",
    ),
) -> None:
    """Triage a seizure: hash every file, match the banks, group duplicates and series, rank the rest.

    Writes case.db, files.csv, problems.csv, vics.json, report.html, summary.json and run.log into
    --out; run.log, case.db, summary.json and report.html record the banks searched (names, entries
    per signal, change-log position). With no enabled bank holding entries (or none of those named),
    triage refuses to run unless --no-banks. Exit 0 when the run completed (even with per-file
    errors, which are reported), 2 on a usage error, 130 when interrupted (rerun to resume).
    """
    for name, t in (
        ("--threshold", match_threshold),
        ("--dup-threshold", dup_threshold),
        ("--series-threshold", series_threshold),
    ):
        if not 0 <= t <= 256:
            raise UsageError(f"{name} must be between 0 and 256, got {t}")
    if series_threshold < dup_threshold:
        raise UsageError("--series-threshold must be at least --dup-threshold")
    if max_depth < 0:
        raise UsageError("--max-depth must be 0 or more")
    if fast and exact_decode:
        raise UsageError("--fast and --exact-decode contradict each other (the exact decode is the default)")
    names = [b.strip() for b in banks.split(",") if b.strip()] if banks else None
    if no_banks and names:
        raise UsageError("--banks and --no-banks contradict each other")
    store = open_store()
    matcher = None
    if not no_banks:
        matcher = open_matcher(store, banks=names, load_saved=False)
        problem = matcher.coverage().problem()
        if problem:
            store.close()
            raise UsageError(
                f"nothing to match against: {problem}; or pass --no-banks to triage without matching "
                "(every image is then 'unknown': not checked)"
            )
    opts = TriageOptions(
        out=out,
        jobs=jobs,
        max_pixels=settings().max_pixels,
        fast=fast,
        robust=robust,
        thumbnails=thumbnails,
        case_number=case_number,
        banks=sorted(names) if names else None,
        thresholds=Thresholds(
            match=match_threshold, duplicate=dup_threshold, series=series_threshold, upscaled=upscaled
        ),
        limits=Limits(max_depth=max_depth),
        max_memory=parse_size(max_memory) if max_memory else None,
        frame_interval=frame_interval,
        video=settings().video_limits(),
    )
    show = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    with progress_bar(enabled=show) as bar:
        task = bar.add_task("triage", total=None, rate="")

        def report(done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            bar.update(
                task, completed=done, total=total, rate=f"{done / elapsed:.0f} files/s" if elapsed > 0 else ""
            )

        try:
            summary = run_triage(list(sources), opts, matcher, report)
        finally:
            store.close()
    if json_out:
        emit_json(summary)
        return
    stdout.print(
        f"{summary['files']} files: {summary['known']} known, {summary['unknown']} unknown, "
        f"{summary['other']} other; {summary['duplicates']} duplicates in {summary['duplicate_groups']} "
        f"groups; {summary['series']} series ({summary['series_touching_known']} touching known); "
        f"{summary['errors']} errors, {summary['warnings']} warnings"
    )
    searched = summary["searched"]
    if searched["seq"] is None:
        stdout.print("no bank searched (--no-banks): 'unknown' means not checked")
    else:
        stdout.print(
            f"searched {searched['banks']} bank(s), {searched['entries']} entries, at change "
            f"{searched['seq']} (names and counts in run.log and report.html)"
        )
    stdout.print(f"outputs in {summary['out']}: report.html, files.csv, vics.json, case.db, run.log")
    if summary["errors"]:
        stderr.print(f"{summary['errors']} files could not be processed; see problems.csv")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("triage")(triage_command)
    bench.command("triage")(bench_triage_command)


def bench_triage_command(
    files: int = typer.Option(160_000, "--files", "-n", help="Files in the synthetic seizure."),
    photos: Path = typer.Option(
        Path("../shared/data/photos"), "--photos", help="Benign photos to derive it from."
    ),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        help="Triage worker processes and generator processes (auto: one per core).",
        show_default="auto",
    ),
    naive_sample: int = typer.Option(
        1000,
        "--naive-sample",
        help="Files timed with the naive PIL+pdqhash loop (and Haven's per-file work).",
    ),
    base_side: int = typer.Option(
        320,
        "--base-side",
        help="Longest side of the base images in pixels (never upscaled past the photo; 320 = earlier runs).",
    ),
    fast: bool = typer.Option(
        False, "--fast", help="Triage with the fast decode for PDQ (as `haven triage --fast`)."
    ),
    keep: Path = typer.Option(
        None, "--keep", help="Generate into this folder and keep it (default: temp, deleted)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Generate a synthetic seizure from benign photos, seed a bank, triage it, score it against the truth.

    Reports files/s, total time, precision/recall of "known" and of series grouping, and the
    ratio to a naive sequential PIL + pdqhash loop timed in the same run.
    """
    import shutil
    import tempfile

    from haven.triage.bench import run_bench

    if not photos.is_dir():
        raise UsageError(f"--photos {photos} is not a folder")
    if not 64 <= base_side <= 4096:
        raise UsageError("--base-side must be between 64 and 4096 pixels")
    work = keep or Path(tempfile.mkdtemp(prefix="haven-bench-triage-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        with progress_bar(enabled=sys.stderr.isatty()) as bar:
            task = bar.add_task("triage", total=None, rate="")
            t0 = time.perf_counter()

            def report(done: int, total: int) -> None:
                el = time.perf_counter() - t0
                bar.update(
                    task, completed=done, total=total, rate=f"{done / el:.0f} files/s" if el > 0 else ""
                )

            result = run_bench(
                photos,
                files,
                work,
                jobs=jobs,
                naive_sample=naive_sample,
                base_side=base_side,
                exact_decode=not fast,
                progress=report,
                log=stderr.print,
            )
            _print_bench(result, json_out)  # before the (slow) clean-up of the generated files
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _print_bench(s: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(s)
        return
    stdout.print(
        f"files: {s['files']}  triage: {s['triage_seconds']} s  = {s['files_per_second']} files/s "
        f"({s['jobs']} workers); generation {s['generated_seconds']} s (not counted)"
    )
    stdout.print(
        f"  PDQ decode: {'exact' if s['exact_decode'] else 'fast (--fast)'}; "
        f"bases: --base-side {s['base_side']}, "
        "longest side min/25%/50%/75%/max "
        f"{'/'.join(map(str, s['base_longest_side_quartiles']))} px; {s['generated_mib']} MiB generated"
    )
    stdout.print(
        f"  of which hashing {s['hashing_seconds']} s, "
        f"analysis + outputs {s['analysis_and_outputs_seconds']} s"
    )
    stdout.print(
        f"naive PIL+pdqhash+md5 loop on {s['naive_sample']} files: {s['naive_files_per_second']} files/s "
        f"-> Haven triage end to end is {s['speedup_vs_naive']}x"
    )
    r = s["per_file_rates_on_sample"]
    stdout.print(
        f"same sample, interleaved rounds: naive {r['naive']}, Haven per-file work sequential "
        f"{r['haven_sequential']} ({s['per_file_speedup_sequential']}x), {s['jobs']} threads "
        f"{r['haven_threads']} ({s['per_file_speedup_threads']}x), {s['jobs']} processes "
        f"{r['haven_processes']} ({s['per_file_speedup_processes']}x) files/s"
    )
    stdout.print(
        f"  what the exact decode costs, same sample, sequential: exact {r['haven_sequential']}, fast "
        f"{r['haven_sequential_fast']} files/s: the fast decode is {s['fast_decode_speedup']}x"
    )
    stdout.print(
        f"  what --robust costs, same sample, sequential: default {r['haven_sequential']}, --robust "
        f"{r['haven_sequential_robust']} files/s: --robust costs {s['robust_cost']}x the time"
    )
    stdout.print(
        f"  worker processes vs sequential: {s['process_scaling_vs_sequential']}x "
        f"(pool start-up {s['process_pool_start_seconds']} s, not in the rate); {s['jobs']} busy processes "
        f"got {'-'.join(map(str, s['cores_available_before_after']))} cores then (the ceiling)"
    )
    stdout.print(
        f"projected for 160,000 files at this rate: {s['projected_seconds_for_160000'] / 60:.1f} min"
    )
    stdout.print(
        f"known: precision {s['known_precision']}, recall (resize/recompress/copies) "
        f"{s['known_recall_resize_recompress']} (resized/recompressed files only: "
        f"{s['known_recall_resized_or_recompressed_only']}); by kind {s['known_recall_by_kind']}"
    )
    stdout.print(f"known recall by variant: {s['known_recall_by_variant']}")
    stdout.print(
        "known recall of resize variants by the base's longest side (px): "
        f"{s['known_recall_resize_by_base_side']}"
    )
    p = s["without_upscaled"]
    stdout.print(
        f"same case without the upscaled look-ups (--no-upscaled): precision {p['known_precision']}, recall "
        f"(resize/recompress/copies) {p['known_recall_resize_recompress']} (resized/recompressed files only: "
        f"{p['known_recall_resized_or_recompressed_only']}); by variant {p['known_recall_by_variant']}; "
        f"resize variants by base side {p['known_recall_resize_by_base_side']}; "
        f"{s['known_via_upscaled_only']} files known only through them"
    )
    stdout.print(
        f"known or near known (flagged for review): recall (resize/recompress/copies) "
        f"{s['known_or_near_known_recall_resize_recompress']}; by kind "
        f"{s['known_or_near_known_recall_by_kind']}"
    )
    stdout.print(
        f"series: precision {s['series_precision']}, recall {s['series_recall']} "
        f"(without crops: {s['series_precision_without_crops']} / {s['series_recall_without_crops']})"
    )
