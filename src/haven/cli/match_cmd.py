"""``haven match``: hash files and match them against every enabled bank."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.table import Table

from haven.cli.common import emit_json, open_matcher, open_store, progress_bar, settings, stderr, stdout
from haven.errors import InputError
from haven.hashing import hash_many, iter_input_files
from haven.matching import Match, Matcher
from haven.signals import get_signal


def match_command(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Files or folders (searched recursively)."),
    fast: bool = typer.Option(
        False, "--fast", help="Decode large JPEGs at reduced size (faster, a few PDQ bits off)."
    ),
    threshold: int = typer.Option(
        None,
        "--threshold",
        "-t",
        help="PDQ distance threshold for every bank (default: each bank's own, 31).",
    ),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per file per line."),
    progress: bool = typer.Option(False, "--progress", help="Show the progress bar even with --json."),
    jobs: int = typer.Option(
        0, "--jobs", "-j", help="Hashing threads (auto: one per core).", show_default="auto"
    ),
    upscaled: bool = typer.Option(
        False,
        "--upscaled",
        help="Images under 768 px whose PDQ matches nothing: also look up their PDQ as if upscaled "
        "(PDQ drifts on thumbnails; a match says upscaled_to).",
    ),
) -> None:
    """Hash each file (PDQ + MD5/SHA-1/SHA-256) and match it against all enabled banks.

    PDQ matches within the threshold, digests exactly. A PDQ hash with quality below 50 is still
    matched but flagged ("low_quality": true). Exit 1 when any file matched (even if others failed),
    else 2 when any file could not be hashed, else 0.
    """
    if threshold is not None and not 0 <= threshold <= 128:
        from haven.errors import UsageError

        raise UsageError("--threshold must be 0-128")
    store = open_store()
    try:
        matched, _clean, failed = _match_all(
            open_matcher(store),
            paths,
            fast=fast,
            threshold=threshold,
            json_out=json_out,
            progress=progress,
            jobs=jobs,
            upscaled=upscaled,
            max_pixels=settings().max_pixels,
        )
    finally:
        store.close()  # its connection pool: a PostgreSQL connection left to the garbage collector warns
    if matched:
        raise typer.Exit(1)
    if failed:
        raise typer.Exit(2)


def _match_all(
    matcher: Matcher,
    paths: list[Path],
    *,
    fast: bool,
    threshold: int | None,
    json_out: bool,
    progress: bool,
    jobs: int,
    upscaled: bool,
    max_pixels: int,
) -> tuple[int, int, int]:
    """Hash and match every file, printing as it goes; ``(matched, no match, failed)`` counts."""
    files = list(iter_input_files(paths))
    jobs = jobs or os.cpu_count() or 1
    table = None
    if not json_out:
        table = Table(box=None, pad_edge=False)
        table.add_column("path", overflow="fold")
        for col in ("result", "bank", "signal", "distance", "category", "entry"):
            table.add_column(col, no_wrap=True)
    matched = failed = clean = 0
    started = time.perf_counter()
    with progress_bar(enabled=(progress or not json_out) and len(files) > 1) as bar:
        task = bar.add_task("matching", total=len(files), rate="")
        for item in hash_many(files, jobs=jobs, fast=fast, upscaled=upscaled, max_pixels=max_pixels):
            if isinstance(item, InputError):
                failed += 1
                if json_out:
                    emit_json({"path": item.path, "error": item.to_dict()})
                else:
                    assert table is not None
                    table.add_row(item.path or "", f"error: {item.code}", "", "", "", "", "")
            else:
                matches = matcher.match_result(item, threshold=threshold)
                low = item.low_quality()
                matched += bool(matches)
                clean += not matches
                if json_out:
                    obj = {"path": item.path, **item.values(), "matches": [m.to_dict() for m in matches]}
                    if low:
                        obj["low_quality"] = True
                    emit_json(obj)
                else:
                    assert table is not None
                    _add_rows(table, item.path, matches, " (low quality)" if low else "")
            elapsed = time.perf_counter() - started
            bar.update(
                task, advance=1, rate=f"{(matched + clean + failed) / elapsed:.0f} files/s" if elapsed else ""
            )
    if table is not None:
        stdout.print(table)
        stderr.print(
            f"{matched} matched, {clean} no match, {failed} failed in {time.perf_counter() - started:.1f} s"
        )
    return matched, clean, failed


def _add_rows(table: Table, path: str, matches: list[Match], flag: str) -> None:
    if not matches:
        table.add_row(path, "no match" + flag, "", "", "", "", "")
    for k, m in enumerate(matches):
        via = f" ({get_signal(m.signal).variant_text(m.variant)})" if m.variant is not None else ""
        table.add_row(
            path if k == 0 else "",
            "MATCH" + flag,
            m.bank,
            m.signal,
            f"{m.distance}{via}",
            f"{m.category} (severity {m.severity})" if m.category else "",
            str(m.entry_id),
        )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("match")(match_command)
