"""``haven hash`` and ``haven bench hash``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from haven.cli.common import StreamTable, emit_json, progress_bar, settings, stderr
from haven.errors import InputError, UsageError
from haven.hashing import HashResult, algorithm_names, hash_many, iter_input_files, parse_algorithms
from haven.signals import get_signal


def algo_help() -> str:
    return f"Comma-separated algorithms: {','.join(algorithm_names())} (default: all)."


def table_columns(algorithms: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """The human table's value columns: ``(signal, its quality key or None)`` for each signal shown."""
    return [(a, get_signal(a).quality_key() if get_signal(a).min_quality is not None else None)
            for a in algorithms if get_signal(a).in_tables]


def hash_command(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Files or folders (searched recursively)."),
    fast: bool = typer.Option(
        False,
        "--fast",
        help="Decode large JPEGs at reduced size (several times faster; ~3 bits off on average), videos "
        "without the deblocking filter (~2 bits off).",
    ),
    dihedral: bool = typer.Option(False, "--dihedral", help="Also output the 8 rotation/flip PDQ variants."),
    algo: str = typer.Option(None, "--algo", help=algo_help()),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per file per line."),
    progress: bool = typer.Option(False, "--progress", help="Show the progress bar even with --json."),
    summary: bool = typer.Option(False, "--summary", help="Print only a summary, not a row per file."),
    max_pixels: int = typer.Option(None, "--max-pixels", help="Refuse images with more pixels (bomb guard)."),
    jobs: int = typer.Option(
        0, "--jobs", "-j", help="Threads (auto: one per core).", show_default="auto"
    ),
    frame_interval: float = typer.Option(
        1.0, "--vpdq-interval", "--frame-interval", min=0.0,
        help="Videos: seconds between sampled frames (0: every frame)."),
    reference_out: Path = typer.Option(
        None, "--reference-out",
        help="Also write each value in its reference tool's file format, where it has one (vPDQ: "
        "frameNumber,quality,hash,timestamp lines), to DIR/<file name>.<signal>.txt."),
) -> None:
    """Hash images and videos: PDQ (perceptual) of images, vPDQ of videos, MD5/SHA-1/SHA-256 of the bytes.

    Exit 0 when every input hashed, 2 when any failed (the others are still reported).
    """
    algorithms = parse_algorithms(algo)
    files = list(iter_input_files(paths))
    if not files:
        raise UsageError(f"0 files found in {', '.join(map(str, paths))}")
    jobs = jobs or os.cpu_count() or 1
    show_bar = (progress or not json_out) and len(files) > 1
    columns = table_columns(algorithms)
    widths: list[tuple[str, int]] = []  # each value column as wide as its signal's values
    for sig, q in columns:
        widths.append((sig, get_signal(sig).max_length))
        if q:
            widths.append(("q", 3))
    ok = failed = 0
    errors_by_code: dict[str, int] = {}
    problems: list[str] = []
    started = time.perf_counter()
    with progress_bar(enabled=show_bar) as bar:
        task = bar.add_task("hashing", total=len(files), rate="")
        table = None
        if not (json_out or summary):  # rows are printed as files are hashed
            path_width = min(max(len(str(f)) for f in files), 80)
            table = StreamTable([("path", path_width), *widths, ("error", 0)], bar)
        for item in hash_many(
            files,
            jobs=jobs,
            algorithms=algorithms,
            fast=fast,
            dihedral=dihedral,
            max_pixels=max_pixels or settings().max_pixels,
            frame_interval=frame_interval,
            video_limits=settings().video_limits(),
        ):
            if isinstance(item, InputError):
                failed += 1
                errors_by_code[item.code] = errors_by_code.get(item.code, 0) + 1
                if json_out:
                    emit_json({"path": item.path, "error": {"code": item.code, "message": item.message}}, bar)
                else:
                    if table is not None:
                        table.row(item.path or "", *([""] * len(widths)), item.code)
                    problems.append(f"{item.code}: {item.message}")
            else:
                ok += 1
                if reference_out is not None:
                    _write_reference_files(reference_out, item)
                if json_out:
                    emit_json(item.to_dict(), bar)
                elif table is not None:
                    cells = [
                        c
                        for sig, q in columns
                        for c in (
                            (item.get(sig) or "", str(item.quality.get(sig, "")))
                            if q
                            else (item.get(sig) or "",)
                        )
                    ]
                    table.row(item.path, *cells)
            elapsed = time.perf_counter() - started
            bar.update(task, advance=1, rate=f"{(ok + failed) / elapsed:.0f} files/s" if elapsed > 0 else "")
    elapsed = time.perf_counter() - started
    for line in problems:
        stderr.print(line, markup=False)
    if summary or (not json_out and len(files) > 1):
        rate = (ok + failed) / elapsed if elapsed > 0 else 0.0
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(errors_by_code.items()))
        stderr.print(
            f"{ok} hashed, {failed} failed{f' ({codes})' if codes else ''} in {elapsed:.1f} s "
            f"({rate:.0f} files/s, {jobs} threads)"
        )
    if failed:
        raise typer.Exit(2)


def _write_reference_files(folder: Path, item: HashResult) -> None:
    """Each value of ``item`` that has a reference file format, as ``folder/<file name>.<signal>.txt``."""
    for signal, value in item.hashes.items():
        text = get_signal(signal).reference_file(value)
        if text is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{Path(item.path).name}.{signal}.txt").write_text(text, encoding="ascii")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("hash")(hash_command)
    from haven.cli.bench_hash import bench_hash_command

    bench.command("hash")(bench_hash_command)
    from haven.cli.bench_video import bench_video_command

    bench.command("video")(bench_video_command)
