"""``haven hash`` and ``haven bench hash``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer
from rich.table import Table

from haven.cli.common import emit_json, progress_bar, stderr, stdout
from haven.config import Settings
from haven.errors import InputError
from haven.hashing import HashResult, hash_file, iter_input_files, parse_algorithms

ALGO_HELP = "Comma-separated algorithms: pdq,md5,sha1,sha256 (default: all)."


def hash_many(
    paths: list[Path], *, algorithms: tuple[str, ...], fast: bool, dihedral: bool, max_pixels: int, jobs: int,
    upscaled: bool = False,
) -> Iterator[HashResult | InputError]:
    """Hash files in order with ``jobs`` threads (decoders and the PDQ kernel release the GIL).

    Yields a ``HashResult`` or the ``InputError`` for each path; one bad file never stops the rest.
    """

    def one(p: Path) -> HashResult | InputError:
        try:
            return hash_file(p, algorithms, fast=fast, dihedral=dihedral, upscaled=upscaled, max_pixels=max_pixels)
        except InputError as exc:
            return exc

    if jobs <= 1:
        yield from map(one, paths)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        # Bounded look-ahead keeps memory flat on huge folders.
        window = jobs * 4
        pending = [pool.submit(one, p) for p in paths[:window]]
        next_i = len(pending)
        while pending:
            result = pending.pop(0).result()
            if next_i < len(paths):
                pending.append(pool.submit(one, paths[next_i]))
                next_i += 1
            yield result


def hash_command(
    paths: list[Path] = typer.Argument(..., help="Files or folders (searched recursively)."),
    fast: bool = typer.Option(False, "--fast", help="Decode large JPEGs at reduced size (several times faster; ~3 bits off on average)."),
    dihedral: bool = typer.Option(False, "--dihedral", help="Also output the 8 rotation/flip PDQ variants."),
    algo: str = typer.Option(None, "--algo", help=ALGO_HELP),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per file per line."),
    progress: bool = typer.Option(False, "--progress", help="Show the progress bar even with --json."),
    summary: bool = typer.Option(False, "--summary", help="Print only a summary, not a row per file."),
    max_pixels: int = typer.Option(None, "--max-pixels", help="Refuse images with more pixels (bomb guard)."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Threads (default: one per core)."),
) -> None:
    """Hash images: PDQ (perceptual) and MD5/SHA-1/SHA-256 of the bytes.

    Exit 0 when every input hashed, 2 when any failed (the others are still reported).
    """
    algorithms = parse_algorithms(algo)
    settings = Settings.from_env()
    files = list(iter_input_files(paths))
    jobs = jobs or os.cpu_count() or 1
    show_bar = (progress or not json_out) and len(files) > 1
    table = Table("path", "pdq", "q", "md5", "error", box=None, pad_edge=False) if not (json_out or summary) else None
    ok = failed = 0
    errors_by_code: dict[str, int] = {}
    problems: list[str] = []
    started = time.perf_counter()
    with progress_bar(enabled=show_bar) as bar:
        task = bar.add_task("hashing", total=len(files), rate="")
        for item in hash_many(files, algorithms=algorithms, fast=fast, dihedral=dihedral,
                              max_pixels=max_pixels or settings.max_pixels, jobs=jobs):
            if isinstance(item, InputError):
                failed += 1
                errors_by_code[item.code] = errors_by_code.get(item.code, 0) + 1
                if json_out:
                    emit_json({"path": item.path, "error": {"code": item.code, "message": item.message}})
                else:
                    if table is not None:
                        table.add_row(item.path or "", "", "", "", item.code)
                    problems.append(f"{item.code}: {item.message}")
            else:
                ok += 1
                if json_out:
                    emit_json(item.to_dict())
                elif table is not None:
                    table.add_row(item.path, item.pdq or "", str(item.quality if item.quality is not None else ""),
                                  item.md5 or "", "")
            elapsed = time.perf_counter() - started
            bar.update(task, advance=1, rate=f"{(ok + failed) / elapsed:.0f} files/s" if elapsed > 0 else "")
    elapsed = time.perf_counter() - started
    if table is not None:
        stdout.print(table)
    for line in problems:
        stderr.print(line, markup=False)
    if summary or (not json_out and len(files) > 1):
        rate = (ok + failed) / elapsed if elapsed > 0 else 0.0
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(errors_by_code.items()))
        stderr.print(f"{ok} hashed, {failed} failed{f' ({codes})' if codes else ''} in {elapsed:.1f} s "
                     f"({rate:.0f} files/s, {jobs} threads)")
    if failed:
        raise typer.Exit(2)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("hash")(hash_command)
    from haven.cli.bench_hash import bench_hash_command

    bench.command("hash")(bench_hash_command)
