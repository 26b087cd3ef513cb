"""``haven index build|query|stats`` and ``haven bench index``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from haven.cli.common import emit_json, stderr, stdout
from haven.errors import FormatError, UsageError
from haven.index import DEFAULT_THRESHOLD, HammingIndex, pdq_hex_to_array
from haven.signals import PdqSignal

index_app = typer.Typer(
    help="Build, query and inspect exact PDQ Hamming indexes (files).", no_args_is_help=True
)


INPUT_FORMAT = (
    "one hash per line: an integer id, a comma or spaces, then the PDQ as 64 hex digits "
    "(e.g. '17,1473f7c5…550c'); no header; blank lines and '#' comments are skipped"
)


def _read_pairs(source: Path) -> tuple[np.ndarray, list[str]]:
    """Lines of ``id,pdq_hex`` (or ``id pdq_hex``); blank lines and ``#`` comments skipped."""
    ids: list[int] = []
    values: list[str] = []
    text = sys.stdin if str(source) == "-" else open(source, encoding="utf-8")
    with text as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.replace(",", " ").split()
            if len(parts) != 2 or not parts[0].lstrip("-").isdigit():
                raise FormatError(f"want {INPUT_FORMAT}; got {line[:80]!r}", path=source, line=lineno)
            try:
                PdqSignal.validate(parts[1])
            except FormatError as exc:
                raise FormatError(exc.message, path=source, line=lineno) from None
            ids.append(int(parts[0]))
            values.append(parts[1])
    return np.array(ids, np.int64), values


def build_command(
    output: Path = typer.Argument(..., help="Index file to write (atomically)."),
    source: Path = typer.Argument(..., help="Text file of 'id,pdq_hex' lines, no header ('-' = stdin)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Build an index file from 'id,pdq_hex' lines: an integer id and a 64-hex PDQ each, no header.

    The ids are yours (a bank's entry ids, row numbers …): queries answer with them. Blank lines and
    '#' comments are skipped; '17 1473f7c5…' (spaces) works too. Banks need no index file: `haven bank
    import` keeps their index; this is for standalone PDQ lists.
    """
    ids, values = _read_pairs(source)
    idx = HammingIndex()
    idx.add(ids, pdq_hex_to_array(values))
    idx.save(output)
    stats = idx.stats()
    if json_out:
        emit_json(stats)
    else:
        stdout.print(f"wrote {output}: {stats['count']} hashes")


def query_command(
    index: Path = typer.Argument(..., help="Index file."),
    hashes: list[str] = typer.Argument(..., metavar="PDQ", help="PDQ hashes (64 hex digits)."),
    threshold: int = typer.Option(DEFAULT_THRESHOLD, "--threshold", "-t", help="Largest Hamming distance."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per query."),
) -> None:
    """Find stored hashes within the threshold; exit 1 when any query matched."""
    if threshold < 0:
        raise UsageError("--threshold must be >= 0")
    idx = HammingIndex.open(index)
    results = idx.query(pdq_hex_to_array(hashes), threshold)
    any_match = False
    for h, (ids, dists) in zip(hashes, results, strict=True):
        any_match |= len(ids) > 0
        matches = [{"id": i, "distance": d} for i, d in zip(ids.tolist(), dists.tolist(), strict=True)]
        if json_out:
            emit_json({"query": h, "matches": matches})
        else:
            found = ", ".join(f"{m['id']} (d={m['distance']})" for m in matches) or "no match"
            stdout.print(f"{h}: {found}")
    if any_match:
        raise typer.Exit(1)


def stats_command(
    index: Path = typer.Argument(..., help="Index file."),
    verify: bool = typer.Option(
        False, "--verify", help="Also check every table's contents (exit 2 if damaged)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show an index file's size, layout and metadata (a table; --json for everything as JSON)."""
    idx = HammingIndex.open(index, verify=verify)
    stats = {**idx.stats(), "meta": idx.meta, "bytes": index.stat().st_size}
    if json_out:
        emit_json(stats)
        return
    stdout.print(f"{index}: {stats['count']:,} hashes, {stats['bytes']:,} bytes"
                 + (", verified" if verify else ""), markup=False)
    table = Table("segment", "rows", "deleted", "table widths (bits)", box=None, pad_edge=False)
    for k, seg in enumerate(stats["segments"], 1):
        widths = ", ".join(map(str, seg["widths"])) or "-"
        table.add_row(str(k), f"{seg['rows']:,}", f"{seg['dead']:,}", widths)
    if stats["buffer_rows"]:
        table.add_row("buffer", f"{stats['buffer_rows']:,}", "", "")
    stdout.print(table)
    for key, value in sorted(stats["meta"].items()):
        stdout.print(f"  {key}: {value}", markup=False)


def bench_index_command(
    n: int = typer.Option(1_000_000, "--n", help="Stored hashes."),
    queries: int = typer.Option(2000, "--queries", help="Queries (half near stored hashes, half random)."),
    threshold: int = typer.Option(DEFAULT_THRESHOLD, "--threshold", help="Hamming radius."),
    data: str = typer.Option("random", "--data", help="random, or clustered (near-duplicate series)."),
    seed: int = typer.Option(1234, "--seed", help="Data seed."),
    peers: bool = typer.Option(True, "--peers/--no-peers", help="Also run python-threatexchange and faiss."),
    json_out: bool = typer.Option(False, "--json", help="Last line: a JSON object with every number."),
) -> None:
    """Haven's index vs python-threatexchange PDQIndex vs faiss IndexBinaryFlat: same data, one thread
    each."""
    from haven.index.bench import CONTENDERS, BenchSpec, run_bench

    if n < 1 or queries < 2 or threshold < 0:
        raise UsageError("need --n >= 1, --queries >= 2, --threshold >= 0")
    spec = BenchSpec(n=n, queries=queries, threshold=threshold, data=data, seed=seed)
    contenders = CONTENDERS if peers else ("haven",)
    res = run_bench(spec, contenders, log=stderr.print)
    table = Table(
        "index",
        "build s",
        "queries/s",
        "queries/CPU-s",
        "recall",
        "wrong",
        "RSS +MiB",
        box=None,
        pad_edge=False,
    )
    for name, r in res["contenders"].items():
        table.add_row(
            name,
            f"{r['build_s']:.2f}",
            f"{r['qps']:,.0f}",
            f"{r['qps_cpu']:,.0f}",
            f"{r['recall']:.4f}",
            str(r["wrong"]),
            f"{r['rss_mib']:,.0f}",
        )
    stdout.print(
        f"n={n:,} queries={queries:,} t={threshold} data={data} (1 thread each; truth: {res['truth']}, "
        f"{res['true_pairs']:,} true pairs)"
    )
    stdout.print(table)
    if res.get("haven_batch_qps"):
        stdout.print(f"haven batch query: {res['haven_batch_qps']:,.0f} queries/s")
    if res.get("haven_batch_qps_threads"):
        stdout.print(
            f"haven batch query on {res['haven_batch_threads']} threads: "
            f"{res['haven_batch_qps_threads']:,.0f} queries/s "
            f"({res['haven_batch_qps_threads'] / res['haven_batch_qps']:.2f}x one thread; "
            f"same answer: {'yes' if res['haven_batch_threads_same'] else 'NO'})"
        )
    if res.get("ratio_vs_pytx"):
        stdout.print(
            f"haven vs python-threatexchange PDQIndex: {res['ratio_vs_pytx']:.1f}x queries/s "
            f"({res['ratio_vs_pytx_cpu']:.1f}x per CPU-second)"
        )
    if res.get("ratio_vs_faiss_flat"):
        stdout.print(
            f"haven vs faiss IndexBinaryFlat: {res['ratio_vs_faiss_flat']:.1f}x queries/s "
            f"({res['ratio_vs_faiss_flat_cpu']:.1f}x per CPU-second)"
        )
    for name, why in res["failed"].items():
        stderr.print(f"[red]{name} crashed[/]: {why}")
    if res["skipped"]:
        stderr.print(f"skipped (not installed): {', '.join(res['skipped'])}")
    if json_out:
        emit_json(res)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    index_app.command("build")(build_command)
    index_app.command("query")(query_command)
    index_app.command("stats")(stats_command)
    app.add_typer(index_app, name="index")
    bench.command("index")(bench_index_command)
