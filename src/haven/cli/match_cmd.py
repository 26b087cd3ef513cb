"""``haven match``: match files (hashed here) or hash values given on the command line or stdin against
the enabled banks — and refuse, rather than answer "no match", when there is nothing to search."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import Progress

from haven.cli.commands import check_interrupt
from haven.cli.common import (
    StreamTable,
    emit_json,
    open_matcher,
    open_store,
    progress_bar,
    settings,
    stderr,
    with_signal_options,
)
from haven.errors import FormatError, InputError, UsageError
from haven.hashing import hash_many, iter_input_files
from haven.matching import Coverage, Match, Matcher
from haven.matching.matcher import QUERY_DEFAULTS
from haven.signals import all_signals, get_signal


@with_signal_options(
    "A {name} value to match ({description}); repeatable; '-' reads one per line from stdin."
)
def match_command(
    paths: list[Path] = typer.Argument(
        None, metavar="PATH", help="Files or folders (searched recursively); or give values with --<signal>."
    ),
    banks: str = typer.Option(
        None, "--banks", help="Comma-separated bank names to search (default: every enabled bank)."
    ),
    fast: bool = typer.Option(
        False, "--fast", help="Decode large JPEGs at reduced size, videos without the deblocking filter "
        "(faster, a few PDQ bits off)."
    ),
    threshold: int = typer.Option(
        None,
        "--threshold",
        "-t",
        help="PDQ distance threshold for every bank (default: each bank's own, 31).",
    ),
    dihedral: bool | None = typer.Option(
        None,
        "--dihedral/--no-dihedral",
        help="Also look up each image's 8 rotations and flips (mirrored, rotated copies) [default: on].",
        show_default=False,
    ),
    robust: bool = typer.Option(
        QUERY_DEFAULTS.robust,
        "--robust/--plain",
        help="Also look up each image without its borders and after equalisation (haven eval measures "
        "both); --plain looks up the file's own PDQ (and --dihedral/--upscaled) only.",
    ),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per file (or value) per line."),
    progress: bool = typer.Option(False, "--progress", help="Show the progress bar even with --json."),
    jobs: int = typer.Option(
        0, "--jobs", "-j", help="Hashing threads (auto: one per core).", show_default="auto"
    ),
    upscaled: bool = typer.Option(
        QUERY_DEFAULTS.upscaled,
        "--upscaled/--no-upscaled",
        help="Images under 768 px whose PDQ matches nothing: also look up their PDQ as if upscaled "
        "(PDQ drifts on thumbnails; a match says upscaled_to).",
    ),
    frame_interval: float = typer.Option(
        1.0, "--vpdq-interval", "--frame-interval", min=0.0,
        help="Videos: seconds between sampled frames (0: every frame)."),
    *,
    signal_values: dict[str, list[str]],
) -> None:
    """Match files, or hash values, against the enabled banks.

    Files are hashed with every signal (PDQ of images, vPDQ of videos, MD5/SHA-1/SHA-256); values are
    given as --pdq HEX, --md5 HEX … (repeatable; '-' reads one value per line from stdin). PDQ matches
    within the threshold, digests exactly; a video by the share of its frames found in a banked video or
    the banked video's found in it (query_pct, compared_pct; each bank's rule). A PDQ hash with quality
    below 50 is still matched but flagged ("low_quality": true). With no enabled bank (or none of those
    named in --banks), or no entries to search, nothing is checked: exit 2 saying so. Exit 1 when
    anything matched (even if others failed), else 2 when any input could not be hashed or read, else 0.
    """
    if threshold is not None and not 0 <= threshold <= 128:
        raise UsageError("--threshold must be 0-128")
    if paths and signal_values:
        raise UsageError("give files or --<signal> values, not both")
    if not paths and not signal_values:
        options = ", ".join(f"--{s.name}" for s in all_signals())
        raise UsageError(f"give files or folders to match, or values with {options}")
    if dihedral and not paths:
        raise UsageError("--dihedral needs files: the rotations of an image are hashed from its pixels")
    dihedral = QUERY_DEFAULTS.dihedral if dihedral is None else dihedral
    values = _read_values(signal_values) if signal_values else {}
    names = [b.strip() for b in banks.split(",") if b.strip()] if banks else None
    store = open_store()
    try:
        matcher = open_matcher(store, banks=names)
        coverage = matcher.coverage()
        problem = coverage.problem(values or None)
        if problem:
            raise UsageError(f"nothing to match against: {problem}")
        if values:
            matched, failed = _match_values(
                matcher, values, threshold=threshold, json_out=json_out, coverage=coverage
            )
        else:
            matched, _clean, failed = _match_files(
                matcher,
                paths,
                fast=fast,
                threshold=threshold,
                json_out=json_out,
                progress=progress,
                jobs=jobs,
                upscaled=upscaled,
                dihedral=dihedral,
                robust=robust,
                max_pixels=settings().max_pixels,
                coverage=coverage,
                frame_interval=frame_interval,
            )
        stderr.print(coverage.describe(), markup=False, soft_wrap=True)
    finally:
        store.close()  # its connection pool: a PostgreSQL connection left to the garbage collector warns
    if matched:
        raise typer.Exit(1)
    if failed:
        raise typer.Exit(2)


def _lines(stream: Iterator[str]) -> Iterator[str]:
    for line in stream:
        text = line.strip()
        if text and not text.startswith("#"):
            yield text


def _read_values(signal_values: dict[str, list[str]]) -> dict[str, list[str]]:
    """The values per signal, ``-`` replaced by stdin's lines (one signal may read stdin)."""
    from_stdin = [s for s, vs in signal_values.items() if "-" in vs]
    if len(from_stdin) > 1:
        raise UsageError(
            f"only one option can read stdin ('-'), got {', '.join('--' + s for s in from_stdin)}"
        )
    out: dict[str, list[str]] = {}
    for signal, given in signal_values.items():
        for v in given:
            out.setdefault(signal, []).extend(_lines(sys.stdin) if v == "-" else [v])
    if not any(out.values()):
        raise UsageError("no values on stdin")
    return out


def _match_values(
    matcher: Matcher,
    values: dict[str, list[str]],
    *,
    threshold: int | None,
    json_out: bool,
    coverage: Coverage,
) -> tuple[int, int]:
    """Match each value by its signal (one batch per signal), printing in input order; (matched, bad)."""
    matched = failed = 0
    width = max(len(v) for vs in values.values() for v in vs)
    table = None if json_out else _table("value", width, coverage)
    for signal, given in values.items():
        sig = get_signal(signal)
        canonical: dict[int, str] = {}
        errors: dict[int, FormatError] = {}
        for k, v in enumerate(given):
            try:
                canonical[k] = sig.validate(v)
            except FormatError as exc:
                errors[k] = exc
        found = dict(
            zip(
                canonical,
                matcher.match_many(signal, list(canonical.values()), threshold=threshold),
                strict=True,
            )
        )
        for k, v in enumerate(given):
            if k in errors:
                failed += 1
                err = {"code": errors[k].code, "message": errors[k].message}
                if json_out:
                    emit_json({"signal": signal, "value": v, "error": err})
                else:
                    assert table is not None
                    table.row(v, f"error: {errors[k].message}")
                continue
            matches = found[k]
            matched += bool(matches)
            if json_out:
                emit_json(
                    {"signal": signal, "value": canonical[k], "matches": [m.to_dict() for m in matches]}
                )
            else:
                assert table is not None
                _rows(table, canonical[k], matches, "")
    if not json_out:
        total = sum(len(vs) for vs in values.values())
        stderr.print(f"{matched} matched, {total - matched - failed} no match, {failed} not valid")
    return matched, failed


def _match_files(
    matcher: Matcher,
    paths: list[Path],
    *,
    fast: bool,
    threshold: int | None,
    json_out: bool,
    progress: bool,
    jobs: int,
    upscaled: bool,
    dihedral: bool,
    robust: bool,
    max_pixels: int,
    coverage: Coverage,
    frame_interval: float = 1.0,
) -> tuple[int, int, int]:
    """Hash and match every file, printing each as it is done; ``(matched, no match, failed)`` counts."""
    files = list(iter_input_files(paths))
    if not files:
        raise UsageError(f"0 files found in {', '.join(map(str, paths))}")
    jobs = jobs or os.cpu_count() or 1
    matched = failed = clean = 0
    started = time.perf_counter()
    with progress_bar(enabled=(progress or not json_out) and len(files) > 1) as bar:
        task = bar.add_task("matching", total=len(files), rate="")
        table = None if json_out else _table("path", max(len(str(f)) for f in files), coverage, bar)
        for item in hash_many(
            files, jobs=jobs, fast=fast, upscaled=upscaled, dihedral=dihedral, robust=robust,
            max_pixels=max_pixels,
            frame_interval=frame_interval, video_limits=settings().video_limits(),
        ):
            check_interrupt()
            if isinstance(item, InputError):
                failed += 1
                if json_out:
                    emit_json({"path": item.path, "error": item.to_dict()}, bar)
                else:
                    assert table is not None
                    table.row(item.path or "", f"error: {item.code}")
            else:
                matches = matcher.match_result(item, threshold=threshold)
                low = item.low_quality()
                matched += bool(matches)
                clean += not matches
                if json_out:
                    obj = {"path": item.path, **item.values(), "matches": [m.to_dict() for m in matches]}
                    if low:
                        obj["low_quality"] = True
                    emit_json(obj, bar)
                else:
                    assert table is not None
                    _rows(table, item.path, matches, " (low quality)" if low else "")
            elapsed = time.perf_counter() - started
            bar.update(
                task, advance=1, rate=f"{(matched + clean + failed) / elapsed:.0f} files/s" if elapsed else ""
            )
    if not json_out:
        stderr.print(
            f"{matched} matched, {clean} no match, {failed} failed in {time.perf_counter() - started:.1f} s"
        )
    return matched, clean, failed


def _table(label: str, width: int, coverage: Coverage, bar: Progress | None = None) -> StreamTable:
    """The streamed table: the input's column (``width`` wide, at most 80), then the result columns, sized
    from the banks searched and the signals."""
    return StreamTable(
        [
            (label, min(width, 80)),
            ("result", len("no match")),
            ("bank", max((len(b.name) for b in coverage.banks), default=4)),
            ("signal", max(len(s.name) for s in all_signals() if s.in_tables)),
            ("distance", 8),
            ("category", len("A (severity 4)")),
            ("entry", 0),
        ],
        bar,
    )


def _rows(table: StreamTable, label: str, matches: list[Match], flag: str) -> None:
    if not matches:
        table.row(label, "no match" + flag)
    for k, m in enumerate(matches):
        via = f" ({get_signal(m.signal).variant_text(m.variant)})" if m.variant is not None else ""
        if m.detail and "query_pct" in m.detail:  # a frame-set match: how much of each side was found
            via += f" (query {m.detail['query_pct']:g}%, banked {m.detail['compared_pct']:g}%)"
        table.row(
            label if k == 0 else "",
            "MATCH" + flag,
            m.bank,
            m.signal,
            f"{m.distance}{via}",
            f"{m.category} (severity {m.severity})" if m.category else "",
            m.entry_id,
        )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("match")(match_command)
