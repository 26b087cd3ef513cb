"""``haven bank …`` (create, list, show, set, enable, disable, delete, add, feedback, remove-entry,
import, export, demo) and ``haven bench import``."""

from __future__ import annotations

import getpass
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from haven.banks import FORMATS, SCHEMES, BankStore, EntryIn
from haven.cli.common import (
    command_hint,
    deferred_interrupt,
    emit_json,
    open_matcher,
    open_store,
    progress_bar,
    settings,
    shown_path,
    stderr,
    stdout,
    with_signal_options,
)
from haven.errors import FormatError, InputError, UsageError
from haven.matching.matcher import BANK_DEFAULTS
from haven.signals import all_signals, get_signal, signal_names

bank_app = typer.Typer(
    help="Hash banks: create, import, export, enable/disable, feedback.", no_args_is_help=True
)

FORMAT_HELP = f"File format: {', '.join(FORMATS)} (default: detected from the content)."
IMPORT_STATUS = {
    "interrupted": "interrupted (run the same import again to resume it)",
    "failed": "failed (the file could not be read on; a new import starts from its first record)",
}


def actor() -> str:
    """Who is acting: HAVEN_ACTOR, else the login name (recorded as created_by / feedback_by)."""
    try:
        return os.environ.get("HAVEN_ACTOR") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def say(text: str) -> None:
    """Print plain text (no rich markup: bank names, paths and notes may hold brackets)."""
    stdout.print(text, markup=False)


def parse_thresholds(specs: list[str] | None) -> dict[str, int] | None:
    if not specs:
        return None
    out: dict[str, int] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not value.strip().isdigit():
            raise UsageError(f"--threshold wants SIGNAL=INT or SIGNAL.OPTION=INT (e.g. pdq=31, "
                             f"vpdq.query_pct=80), got {spec!r}")
        out[name.strip().lower()] = int(value)
    return out


def _bank_line(b) -> str:  # type: ignore[no-untyped-def]
    state = "enabled" if b.enabled else "DISABLED"
    return f"{b.name} ({state}, source {b.source or '-'})"


@bank_app.command("create")
def create(
    name: str = typer.Argument(..., help="Bank name: letters, digits, '_', '.', '-'."),
    source: str = typer.Option(
        None, "--source", help="Where the hashes come from (NCMEC, IWF, Project VIC, own …)."
    ),
    description: str = typer.Option(None, "--description", help="Free text."),
    threshold: list[str] = typer.Option(
        None, "--threshold", help="Match threshold per signal or a rule option, e.g. pdq=31, vpdq.both=1."
    ),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled for matching."),
    json_out: bool = typer.Option(False, "--json", help="Print the bank as JSON."),
) -> None:
    """Create a bank (exit 3 if the name is taken)."""
    bank = open_store().create_bank(
        name,
        source=source,
        description=description,
        thresholds=parse_thresholds(threshold),
        enabled=not disabled,
        actor=actor(),
    )
    emit_json(bank.to_dict()) if json_out else say(f"created bank {_bank_line(bank)}")


@bank_app.command("list")
def list_(json_out: bool = typer.Option(False, "--json", help="One JSON object per bank.")) -> None:
    """List banks with their entry counts."""
    store = open_store()
    banks = store.list_banks()
    signals = signal_names()
    table = Table("name", "enabled", "source", *signals, "thresholds", box=None, pad_edge=False)
    for b in banks:
        counts = store.bank_stats(b.name)["entries"]
        if json_out:
            emit_json({**b.to_dict(), "entries": counts})
            continue
        table.add_row(
            b.name,
            "yes" if b.enabled else "no",
            b.source or "",
            *[str(counts.get(s, {}).get("total", 0)) for s in signals],
            ", ".join(f"{k}={v}" for k, v in sorted(b.thresholds.items())) or "default",
        )
    if not json_out:
        if banks:
            stdout.print(table)
        else:
            say("no banks yet: haven bank create NAME")


@bank_app.command("show")
def show(
    name: str = typer.Argument(...),
    json_out: bool = typer.Option(False, "--json", help="Print as one JSON object."),
) -> None:
    """Show one bank: settings, entry counts (total / active) and imports."""
    store = open_store()
    bank = store.get_bank(name)
    stats = store.bank_stats(name)
    if json_out:
        emit_json({**bank.to_dict(), **stats})
        return
    say(f"bank {_bank_line(bank)}")
    if bank.description:
        say(f"  description: {bank.description}")
    from haven.signals import all_signals

    stdout.print("  thresholds: " + ", ".join(
        [f"{s.name}={bank.threshold(s.name)}" for s in all_signals()]
        + [f"{s.name}.{o}={s.option(o, bank.thresholds)}" for s in all_signals() for o in s.options]))
    say(
        f"  created {bank.created_at:%Y-%m-%d %H:%M:%S} UTC by {bank.created_by or '-'}; "
        f"updated {bank.updated_at:%Y-%m-%d %H:%M:%S} UTC by {bank.updated_by or '-'}"
    )
    for signal, c in sorted(stats["entries"].items()):
        say(f"  {signal}: {c['total']} entries, {c['active']} active")
    for imp in stats["imports"]:
        status = IMPORT_STATUS.get(imp["status"], imp["status"])
        say(
            f"  import #{imp['id']} {status}: {imp['rows_added']} rows, {imp['errors']} errors "
            f"from {shown_path(imp['path']) if imp['path'] != '-' else '-'} ({imp['format']})"
        )


@bank_app.command("set")
def set_(
    name: str = typer.Argument(...),
    source: str = typer.Option(None, "--source"),
    description: str = typer.Option(None, "--description"),
    threshold: list[str] = typer.Option(
        None, "--threshold", help="Match threshold per signal or a rule option, e.g. pdq=20, vpdq.both=1."
    ),
) -> None:
    """Change a bank's source, description or thresholds."""
    bank = open_store().update_bank(
        name, source=source, description=description, thresholds=parse_thresholds(threshold), actor=actor()
    )
    say(f"updated bank {_bank_line(bank)}")


@bank_app.command("enable")
def enable(name: str = typer.Argument(...)) -> None:
    """Enable matching against a bank."""
    say(f"bank {_bank_line(open_store().set_enabled(name, True, actor=actor()))}")


@bank_app.command("disable")
def disable(name: str = typer.Argument(...)) -> None:
    """Disable matching against a bank (its entries stay)."""
    say(f"bank {_bank_line(open_store().set_enabled(name, False, actor=actor()))}")


@bank_app.command("delete")
def delete(
    name: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", help="Really delete the bank and all its entries."),
) -> None:
    """Delete a bank with all its entries (needs --yes)."""
    if not yes:
        raise UsageError(f"deleting bank {name!r} removes all its entries; pass --yes to confirm")
    open_store().delete_bank(name, actor=actor())
    say(f"deleted bank {name}")


@bank_app.command("add")
@with_signal_options("A {name} value to add ({description}); repeatable.")
def add(
    name: str = typer.Argument(..., help="Bank to add to."),
    files: list[Path] = typer.Argument(
        None, metavar="FILE", help="Files or folders to hash: every value each file yields is added."
    ),
    quality: int = typer.Option(None, "--quality", help="Quality (0-100) of the perceptual values given."),
    category: str = typer.Option(None, "--category", help="Category in the source's scheme (A1, B, 1 …)."),
    scheme: str = typer.Option(
        None, "--scheme", help=f"Category scheme ({', '.join(SCHEMES)}; default: told by the category)."
    ),
    series: str = typer.Option(None, "--series"),
    victim_identified: bool = typer.Option(None, "--victim-identified/--victim-not-identified"),
    note: str = typer.Option(None, "--note"),
    force: bool = typer.Option(
        False, "--force", help="Add weak values too (an all-zero or low-quality PDQ, an empty file's digest)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the entries as JSON (with \"added\")."),
    variants: bool = typer.Option(
        BANK_DEFAULTS.bank_variants, "--variants/--no-variants",
        help="Images: also store PDQ values of crops, small rotations, the picture without borders and "
        "equalised with each entry, so cropped, rotated or framed copies match it (haven eval)."),
    *,
    signal_values: dict[str, list[str]],
) -> None:
    """Add hashes to a bank: files (hashed here) or values; matchers pick them up within a second.

    Adding a value the bank already holds changes nothing (its entry is shown). A category must be one
    Haven can grade (the known schemes are listed otherwise); weak values, which would match unrelated
    content, are refused unless --force. Exit 2 when any file could not be hashed or added.
    """
    pairs = [(s, v) for s, values in signal_values.items() for v in values]
    if not pairs and not files:
        raise UsageError(f"give files to hash, or values with {', '.join('--' + s for s in signal_names())}")
    fields: dict[str, Any] = {"category": category, "category_scheme": scheme, "series": series,
              "victim_identified": victim_identified, "note": note}
    store = open_store()
    try:
        failed = 0
        if pairs:
            rated = {s.name for s in all_signals() if s.min_quality is not None}
            entries = [EntryIn(signal=s, value=v, quality=quality if s in rated else None, **fields)
                       for s, v in pairs]
            _show_added(store, store.add_entries_detail(name, entries, actor=actor(), force=force), json_out)
        if files:
            failed = _add_files(store, name, files, fields, force=force, json_out=json_out, variants=variants)
    finally:
        store.close()
    if failed:
        raise typer.Exit(2)


def _add_files(
    store: BankStore, bank: str, paths: list[Path], fields: dict[str, Any], *, force: bool, json_out: bool,
    variants: bool = BANK_DEFAULTS.bank_variants,
) -> int:
    """Hash each file with every signal and add what it yields (one transaction per file, so a bad file
    is reported and the others are still added); returns how many files failed."""
    from haven.banks import entries_from_hash
    from haven.hashing import hash_many, iter_input_files

    files = list(iter_input_files(paths))
    if not files:
        raise UsageError(f"0 files found in {', '.join(map(str, paths))}")
    store.get_bank(bank)  # a missing bank is one error, not one per file
    failed = 0
    for item in hash_many(files, jobs=os.cpu_count() or 1, max_pixels=settings().max_pixels,
                          bank_variants=variants):
        try:
            if isinstance(item, InputError):
                raise item
            entries = entries_from_hash(item, **fields)
            done = store.add_entries_detail(bank, entries, actor=actor(), force=force)
        except InputError as exc:
            failed += 1
            where = f"{exc.path}: " if exc.path and str(exc.path) not in exc.message else ""
            stderr.print(f"[red]not added[/] {escape(where + exc.message)}", soft_wrap=True)
            continue
        _show_added(store, done, json_out, source=item.path)
    return failed


def _show_added(
    store: BankStore, done: list[tuple[int, bool]], json_out: bool, source: str | None = None
) -> None:
    new = {i for i, fresh in done if fresh}
    of = f" (from {source})" if source else ""
    for e in store.get_entries(i for i, _ in done):
        if json_out:
            emit_json({**e.to_dict(), "added": e.id in new, **({"file": source} if source else {})})
            continue
        graded = f" category {e.category} (severity {e.severity})" if e.category else ""
        what = f"{e.signal} {get_signal(e.signal).short_value(e.value)}{graded}"
        if e.id in new:
            say(f"added entry {e.id}: {what}{of}")
        else:
            say(f"already in {e.bank} as entry {e.id}: {what}{of}")


@bank_app.command("feedback")
def feedback(
    entry_id: int = typer.Argument(..., help="Entry id (from haven match --json or bank export)."),
    opinion: str = typer.Argument(..., help="false_positive | disputed | confirmed | none"),
) -> None:
    """Record an opinion on an entry; false_positive and disputed stop it matching (history kept)."""
    e = open_store().set_feedback(
        entry_id, None if opinion.lower() == "none" else opinion.lower(), actor=actor()
    )
    say(
        f"entry {e.id} ({e.bank}, {e.signal}): feedback {e.feedback or 'none'}; "
        f"{'matches' if e.active else 'does not match'}"
    )


@bank_app.command("remove-entry")
def remove_entry(entry_id: int = typer.Argument(...)) -> None:
    """Delete one entry (prefer feedback, which keeps its history)."""
    open_store().remove_entry(entry_id, actor=actor())
    say(f"removed entry {entry_id}")


@bank_app.command("import")
def import_(
    name: str = typer.Argument(..., help="Bank to import into (must exist)."),
    file: Path = typer.Argument(..., help="Hash-list file, or - for stdin."),
    fmt: str = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    again: bool = typer.Option(
        False, "--again", help="Import a file whose import already finished once more."
    ),
    force: bool = typer.Option(
        False, "--force", help="Import weak values too (all-zero or low-quality PDQ, an empty file's digest)."
    ),
    batch_size: int = typer.Option(10_000, "--batch-size", help="Rows per transaction (= checkpoint)."),
    no_index: bool = typer.Option(False, "--no-index", help="Do not update the saved PDQ index afterwards."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no per-row error lines."),
) -> None:
    """Import a hash list (streaming, resumable: run it again after a crash or Ctrl-C to finish it).

    Values the bank already holds are not added twice. Malformed rows, and weak values unless --force,
    are reported with file and line and skipped. Exit 2 if any row was skipped.
    """
    store = open_store()
    spool = _spool_stdin() if str(file) == "-" else None
    source = spool or file
    try:
        result = _import(store, name, source, fmt, again=again, force=force, batch_size=batch_size,
                         quiet=quiet or json_out, label="-" if spool else None)
    finally:
        if spool is not None:
            spool.unlink(missing_ok=True)
    if not no_index and result.rows_added:
        open_matcher(store, load_saved=False).save_index()
    shown = "stdin" if spool else str(file)
    if json_out:
        emit_json(result.to_dict())
    elif result.already_done:
        say(
            f"{shown} was already imported into {name} (import #{result.import_id}); "
            "pass --again to import it once more"
        )
    else:
        resumed = f", resumed after record {result.resumed_from}" if result.resumed_from else ""
        say(
            f"imported {result.rows_added} entries into {name} from {shown} ({result.format}{resumed}): "
            f"{result.duplicates} already in the bank, {result.errors} skipped, {result.warnings} warnings, "
            f"{result.seconds:.1f} s"
        )
        for w in [m for m in result.messages if ": warning: " in m][:3]:
            stderr.print(f"[yellow]{escape(w)}[/]", soft_wrap=True)
    if result.errors:
        raise typer.Exit(2)


def _spool_stdin() -> Path:
    """Copy stdin to a file in the data folder: an import reads its file twice (its SHA-256 names the
    import, so the same content piped again resumes it) and measures its size."""
    folder = settings().data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=folder, prefix="stdin-", suffix=".part", delete=False) as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return Path(out.name)


def _import(
    store: BankStore,
    name: str,
    file: Path,
    fmt: str | None,
    *,
    again: bool,
    force: bool,
    batch_size: int,
    quiet: bool,
    label: str | None,
) -> Any:
    """Run the import with a progress bar in bytes of the file and skipped rows printed as they come."""
    size = max(file.stat().st_size, 1) if file.is_file() else 1
    shown = 0

    def on_error(err: FormatError) -> None:
        nonlocal shown
        shown += 1
        if not quiet and shown <= 50:
            stderr.print(f"[yellow]skipped[/] {escape(err.message)}", soft_wrap=True)

    with progress_bar(enabled=not quiet, unit="bytes") as bar, deferred_interrupt() as stop:
        task = bar.add_task("importing", total=size, rate="")

        def on_progress(records: int, rows: int, pos: int) -> None:
            bar.update(task, completed=min(pos, size))

        result = store.import_file(name, file, fmt, actor=actor(), batch_size=batch_size, again=again,
                                   force=force, label=label, should_stop=stop, on_progress=on_progress,
                                   on_error=on_error)
        bar.update(task, completed=size)
    if shown > 50 and not quiet:
        stderr.print(f"… {shown - 50} more skipped rows")
    return result


@bank_app.command("export")
def export(
    name: str = typer.Argument(...),
    output: str = typer.Option(..., "--output", "-o", help="Output file, or - for stdout."),
    fmt: str = typer.Option(
        None, "--format", "-f", help=f"{', '.join(FORMATS)} (default: from the extension, else csv)."
    ),
) -> None:
    """Export a bank (lossless in the Haven csv format; other formats skip what they cannot hold)."""
    if fmt is None:
        ext = Path(output).suffix.lower()
        fmt = {".json": "vics", ".jsonl": "hma"}.get(ext, "csv")
    store = open_store()
    if output == "-":
        stats = store.export_file(name, sys.stdout, fmt)
    else:
        tmp = Path(output + ".part")
        with tmp.open("w", encoding="utf-8", newline="") as out:
            stats = store.export_file(name, out, fmt)
        tmp.replace(output)
    stderr.print(
        f"exported {stats.written} entries of {name} as {fmt}"
        + (f"; skipped {stats.skipped}" if stats.skipped else "")
    )
    for w in stats.warnings[:5]:
        stderr.print(f"[yellow]skipped[/] {escape(w)}", soft_wrap=True)


@bank_app.command("demo")
def demo(
    photos: Path = typer.Option(
        None, "--photos", help="Folder of benign photos (default ../shared/data/photos)."
    ),
    count: int = typer.Option(40, "--count", help="How many photos go into the demo bank."),
    out: Path = typer.Option(
        None, "--out", help="Folder for the query images (default <data_dir>/demo-queries)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Build the demo bank from benign photos and a folder of queries (transformed copies + unknown
    photos)."""
    from haven.demo import build_demo

    store = open_store()
    summary = build_demo(store, photos=photos, count=count, out=out or settings().data_dir / "demo-queries")
    open_matcher(store, load_saved=False).save_index()
    if json_out:
        emit_json(summary)
        return
    say(
        f"bank 'demo': {summary['bank_entries']} entries from {summary['count']} photos "
        f"({'created' if summary['created'] else 'already there'})"
    )
    queries = shown_path(summary["queries"])
    say(
        f"queries in {queries}: {len(summary['expected_hits'])} transformed copies of banked "
        f"photos, {len(summary['expected_misses'])} photos not in the bank"
    )
    say(f"try: {command_hint('match', queries)}")


def bench_import_command(
    rows: int = typer.Option(200_000, "--rows", help="PDQ rows to generate and import."),
    batch_size: int = typer.Option(10_000, "--batch-size", help="Rows per transaction (both sides)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Import an N-row PDQ CSV into a fresh SQLite bank; peer: plain sqlite3 executemany of the same rows.

    Both sides read the same file and write the same table (same schema and indexes, same pragmas,
    same batch size). Haven additionally validates every value, computes severity, checkpoints the
    import and logs changes; the peer only inserts.
    """
    import csv
    import random
    import sqlite3
    import tempfile
    from datetime import UTC, datetime

    from haven.store.db import sqlite_time, upgrade_database

    with tempfile.TemporaryDirectory(prefix="haven-bench-import-") as tmp:
        src = Path(tmp) / "pdq.csv"
        rng = random.Random(20240601)
        with src.open("w") as f:
            f.write("signal,value,quality\n")
            for _ in range(rows):
                f.write(f"pdq,{rng.getrandbits(256):064x},{rng.randint(50, 100)}\n")
        mib = src.stat().st_size / 2**20
        stderr.print(f"generated {rows:,} PDQ rows ({mib:.0f} MiB) in {src}")

        # Haven
        store = open_store(f"sqlite:///{tmp}/haven.db")
        store.create_bank("bench")
        t0, c0 = time.perf_counter(), time.process_time()
        result = store.import_file("bench", src, "csv", batch_size=batch_size)
        haven_s, haven_cpu = time.perf_counter() - t0, time.process_time() - c0
        store.close()
        assert result.rows_added == rows and result.errors == 0, result

        # Peer: plain sqlite3, same schema (migrated the same way), same pragmas and batch size.
        peer_db = f"{tmp}/peer.db"
        upgrade_database(f"sqlite:///{peer_db}")
        conn = sqlite3.connect(peer_db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "INSERT INTO banks (name, enabled, thresholds, created_at, updated_at) "
            "VALUES ('bench', 1, '{}', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
        )
        conn.commit()
        now_s = sqlite_time(datetime.now(UTC))
        t0, c0 = time.perf_counter(), time.process_time()
        with src.open(newline="") as f:
            reader = csv.reader(f)
            next(reader)
            batch: list[tuple] = []
            for sig, value, q in reader:
                batch.append((1, sig, value, int(q), now_s))
                if len(batch) >= batch_size:
                    conn.executemany(
                        "INSERT INTO bank_entries (bank_id, signal, value, quality, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        batch,
                    )
                    conn.commit()
                    batch = []
            if batch:
                conn.executemany(
                    "INSERT INTO bank_entries (bank_id, signal, value, quality, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    batch,
                )
                conn.commit()
        peer_s, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
        peer_rows = conn.execute("SELECT count(*) FROM bank_entries").fetchone()[0]
        conn.close()
        assert peer_rows == rows
    import resource

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "rows": rows,
        "batch_size": batch_size,
        "peak_rss_mib": round(peak_mib),
        "haven_seconds": round(haven_s, 2),
        "haven_rows_per_min": round(rows / haven_s * 60),
        "haven_cpu_seconds": round(haven_cpu, 2),
        "peer_seconds": round(peer_s, 2),
        "peer_cpu_seconds": round(peer_cpu, 2),
        "peer_rows_per_min": round(rows / peer_s * 60),
        "haven_vs_peer": round(peer_s / haven_s, 3),
    }
    if json_out:
        emit_json(out)
        return
    say(
        f"haven bank import  : {rows:,} rows in {haven_s:.1f} s (CPU {haven_cpu:.1f} s) = "
        f"{out['haven_rows_per_min']:,} rows/min"
    )
    say(
        f"sqlite3 executemany: {rows:,} rows in {peer_s:.1f} s (CPU {peer_cpu:.1f} s) = "
        f"{out['peer_rows_per_min']:,} rows/min"
    )
    say(
        f"haven / plain sqlite3 speed: {out['haven_vs_peer']:.2f}x "
        f"(peak RSS of this process {peak_mib:.0f} MiB)"
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(bank_app, name="bank")
    bench.command("import")(bench_import_command)
