"""``haven exchange …`` (add, list, show, fetch, feedback, set, disable, enable, remove),
``haven exchange-mock``
and ``haven bench exchange``."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Any

import typer

from haven.cli.bank_cmd import actor, say
from haven.cli.common import deferred_interrupt, emit_json, open_store, settings, stderr
from haven.errors import UsageError

exchange_app = typer.Typer(
    help="Hash-list exchanges (NCMEC, StopNCII, ThreatExchange, shared files) that keep banks current.",
    no_args_is_help=True,
)
JSON_HELP = "Print JSON instead of text."


def _ring(required: bool = False) -> Any:
    from haven.secrets import KeyRing

    try:
        return KeyRing.load(settings())
    except UsageError:
        if required:
            raise
        return None


@contextlib.contextmanager
def _xstore(*, ring_required: bool = False) -> Iterator[Any]:
    """The exchange store on the configured database, closed (its pool too) when the command ends."""
    from haven.exchanges import ExchangeStore

    banks = open_store()
    try:
        yield ExchangeStore(banks, _ring(ring_required))
    finally:
        banks.close()


def _client_settings() -> Any:
    from haven.exchanges.settings import ExchangeSettings

    return ExchangeSettings.from_env().client


def _duration(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([smhd]?)", text.strip())
    if not m:
        raise UsageError(f"--interval {text!r}: want a duration such as 90s, 30m, 6h, 1d")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


@exchange_app.command("add")
def add_command(
    name: str = typer.Argument(..., help="A name for the exchange (letters, digits, '_', '.', '-')."),
    type_: str = typer.Option(..., "--type", help="ncmec | stopncii | threatexchange | file"),
    bank: str = typer.Option(..., "--bank", help="The bank it keeps current (created when missing)."),
    source: str = typer.Option(None, "--source", help="file: the list's path or http(s) URL."),
    url: str = typer.Option(None, "--url", help="The API's base URL (a mock's, or a non-default one)."),
    environment: str = typer.Option(None, "--environment", help="ncmec: industry, ngo, exploitative, test-…"),
    privacy_group: str = typer.Option(None, "--privacy-group", help="threatexchange: the privacy group id."),
    interval: str = typer.Option(
        "1h", "--interval", help="How often `haven serve` fetches it (90s, 30m, 6h …)."
    ),
    option: list[str] = typer.Option(None, "--option", help="Another type option, KEY=VALUE (repeatable)."),
    username: str = typer.Option(None, "--username", help="ncmec: API user name (the password from stdin)."),
    credentials_stdin: bool = typer.Option(
        False,
        "--credentials-stdin",
        help="Read credentials from stdin, KEY=VALUE lines (ncmec: password; stopncii: subscription_key, "
        "fetch_function_key, feedback_function_key; threatexchange: access_token).",
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Configure an exchange; credentials are sealed with the master key ring (`haven secrets init`)."""
    opts: dict[str, Any] = _pairs(option, "--option")
    if source and not source.startswith(("http://", "https://")):
        from pathlib import Path

        source = str(Path(source).resolve())  # the service fetches it from another folder
    for key, value in (
        ("source", source),
        ("url", url),
        ("environment", environment),
        ("privacy_group", privacy_group),
    ):
        if value:
            opts[key] = value
    creds: dict[str, str] = {}
    if credentials_stdin:
        lines = [ln.strip() for ln in sys.stdin.read().splitlines() if ln.strip()]
        if type_ == "ncmec" and len(lines) == 1 and "=" not in lines[0]:
            creds["password"] = lines[0]
        else:
            creds.update(_pairs(lines, "credential line"))
    if username:
        creds["username"] = username
    with _xstore(ring_required=bool(creds)) as xs:
        ex = xs.add(
            name,
            type_,
            bank,
            options=opts,
            credentials=creds,
            interval_seconds=_duration(interval),
            actor=actor(),
        )
        if json_out:
            emit_json(ex.to_dict())
        else:
            say(
                f"exchange {ex.name} ({ex.type}) added, feeding bank {ex.bank} every {interval}; "
                f"fetch it now with: haven exchange fetch {ex.name}"
            )


@exchange_app.command("list")
def list_command(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Every exchange with its bank, schedule and last fetch."""
    with _xstore() as xs:
        for ex in xs.exchanges():
            if json_out:
                emit_json(ex.to_dict())
                continue
            state = "enabled" if ex.enabled else "disabled"
            last = ex.fetch_finished_at.isoformat(timespec="seconds") if ex.fetch_finished_at else "never"
            say(
                f"{ex.name}  {ex.type}  bank {ex.bank}  {state}  every {ex.interval_seconds}s  "
                f"last fetch {last} ({ex.last_status or '-'})"
            )


@exchange_app.command("show")
def show_command(
    name: str = typer.Argument(...),
    items: int = typer.Option(0, "--items", help="Also list this many items (provenance of each entry)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One exchange: options (never its credentials), checkpoint, counts, last error, items."""
    with _xstore() as xs:
        ex = xs.get(name)
        counts = xs.counts(name)
        listed = xs.items(name, limit=items) if items else []
        if json_out:
            emit_json({**ex.to_dict(), "counts": counts, "items": listed})
            return
        say(
            f"exchange {ex.name}: {ex.type}, bank {ex.bank}, {'enabled' if ex.enabled else 'disabled'}, "
            f"every {ex.interval_seconds}s"
        )
        say(f"  options: {ex.options}  credentials: {'sealed' if ex.has_credentials else 'none'}")
        say(f"  checkpoint: {ex.checkpoint}  pages applied: {ex.pages}  updates applied: {ex.applied}")
        say(
            f"  last fetch: {ex.last_status or 'never'}"
            + (
                f", finished {ex.fetch_finished_at.isoformat(timespec='seconds')}"
                if ex.fetch_finished_at
                else ""
            )
            + (f"; error: {ex.last_error}" if ex.last_error else "")
        )
        say("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for it in listed:
            say(
                f"  {it['upstream_id']}  {it['signal']} {it['value']}  entry {it['entry_id']}  "
                f"{it['classification'] or ''} {it['status'] or ''}".rstrip()
            )


@exchange_app.command("fetch")
def fetch_command(
    name: str = typer.Argument(None, help="The exchange (default: every enabled one)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Fetch now: from each exchange's checkpoint to the upstream's present; Ctrl-C or a crash resumes."""
    from haven.exchanges import feedback, fetch

    with _xstore() as xs:
        names = [name] if name else [ex.name for ex in xs.exchanges() if ex.enabled]
        failed = False
        for n in names:
            with deferred_interrupt() as stop:
                try:
                    result = fetch(xs, n, settings=_client_settings(), should_stop=stop)
                except UsageError:
                    raise
                except Exception as exc:
                    if name:
                        raise
                    failed = True
                    stderr.print(f"{n}: {getattr(exc, 'message', exc)}", markup=False)
                    continue
            if json_out:
                emit_json(result.to_dict())
            elif result.unchanged:
                say(f"{n}: unchanged since the last fetch")
            else:
                say(
                    f"{n}: {result.pages} page(s); {result.added} added, {result.linked} already held, "
                    f"{result.changed} changed, {result.tombstones} tombstones "
                    f"({result.removed} entries removed), "
                    f"{result.errors} refused" + (" (resumed)" if result.resumed else "")
                )
                for msg in result.messages[:10]:
                    stderr.print(f"  {msg}", markup=False)
        feedback.collect(xs)
        if failed:
            raise typer.Exit(3)


@exchange_app.command("feedback")
def feedback_command(
    name: str = typer.Argument(None, help="Only this exchange."),
    send: bool = typer.Option(False, "--send", help="Send the pending feedback now."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The feedback outbox: bank feedback on exchange entries, queued and sent as each exchange's own call."""
    from haven.exchanges import feedback

    with _xstore() as xs:
        feedback.collect(xs)
        if send:
            counts = feedback.send(xs, settings=_client_settings(), exchange=name)
            if not json_out:
                say(
                    "sent: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing pending")
                )
        for row in xs.feedback(name):
            if json_out:
                emit_json(row)
            else:
                say(
                    f"#{row['id']} {row['exchange']} entry {row['entry_id']} "
                    f"({row['upstream_id']}, {row['signal']}): "
                    f"{row['opinion']} by {row['actor'] or '-'} → {row['status']} after {row['tries']} tries"
                    + (f": {row['result']}" if row["result"] else "")
                )


@exchange_app.command("set")
def set_command(
    name: str = typer.Argument(...),
    option: list[str] = typer.Option(None, "--option", help="A type option, KEY=VALUE (repeatable)."),
    interval: str = typer.Option(None, "--interval", help="A new fetch interval."),
    credentials_stdin: bool = typer.Option(
        False, "--credentials-stdin", help="New credentials, KEY=VALUE lines."
    ),
) -> None:
    """Change an exchange's options, interval or credentials."""
    import json

    from sqlalchemy import update

    from haven.exchanges.store import EXCHANGES, OPTIONS

    with _xstore(ring_required=credentials_stdin) as xs:
        ex = xs.get(name)
        opts = {**ex.options, **_pairs(option, "--option")}
        unknown = sorted(set(opts) - set(OPTIONS[ex.type]))
        if unknown:
            raise UsageError(f"{ex.type} exchanges take no option {', '.join(unknown)}")
        values: dict[str, Any] = {"options": json.dumps(opts, sort_keys=True)}
        if interval:
            values["interval_seconds"] = _duration(interval)
        with xs.engine.begin() as conn:
            conn.execute(update(EXCHANGES).where(EXCHANGES.c.id == ex.id).values(**values))
        if credentials_stdin:
            xs.set_credentials(
                name, _pairs([ln for ln in sys.stdin.read().splitlines() if ln.strip()], "line")
            )
        say(f"exchange {name} updated")


@exchange_app.command("disable")
def disable_command(name: str = typer.Argument(...)) -> None:
    """Stop scheduled fetches (its entries keep matching)."""
    with _xstore() as xs:
        xs.set_enabled(name, False)
    say(f"exchange {name} disabled")


@exchange_app.command("enable")
def enable_command(name: str = typer.Argument(...)) -> None:
    """Resume scheduled fetches."""
    with _xstore() as xs:
        xs.set_enabled(name, True)
    say(f"exchange {name} enabled")


@exchange_app.command("remove")
def remove_command(
    name: str = typer.Argument(...),
    purge: bool = typer.Option(
        False, "--purge", help="Also remove the bank entries only this exchange kept."
    ),
) -> None:
    """Delete an exchange, its provenance records and feedback outbox (entries stay unless --purge)."""
    with _xstore() as xs:
        removed = xs.remove(name, purge=purge, actor=actor())
    say(f"exchange {name} removed" + (f"; {removed} bank entries removed" if purge else ""))


def exchange_mock_command(
    type_: str = typer.Option(..., "--type", help="ncmec | stopncii | threatexchange"),
    count: int = typer.Option(2500, "--count", help="Records in the generated hash set."),
    port: int = typer.Option(8766, "--port", help="TCP port on 127.0.0.1 (0: any free port)."),
    page_size: int = typer.Option(None, "--page-size", help="Records per page (default: the API's own)."),
    seed: str = typer.Option("haven", "--seed", help="Seed of the generated values."),
    verbose: bool = typer.Option(False, "--verbose", help="Log every request."),
) -> None:
    """Serve a local mock of an exchange API: generated hashes, paging, deletions, changes, faults."""
    from haven.exchanges.mock import MockExchange

    mock = MockExchange(type_, count=count, port=port, page_size=page_size, seed=seed, verbose=verbose)
    mock.warm()  # sort and render the generated set before the first request, not during it
    creds = "\n".join(f"{k}={v}" for k, v in mock.credentials.items() if k != "username")
    user = f" --username {mock.credentials['username']}" if "username" in mock.credentials else ""
    extra = " --privacy-group 1" if type_ == "threatexchange" else ""
    sys.stderr.write(
        f"{type_} mock on {mock.url} ({count} records)\n"
        f"control: GET {mock.root}/_mock/state  POST {mock.root}/_mock/mutate  "
        f"POST {mock.root}/_mock/faults  "
        f"GET {mock.root}/_mock/feedback\n"
        f"use it with: printf '{creds.replace(chr(10), chr(92) + 'n')}\\n' | "
        f"haven exchange add NAME --type {type_} "
        f"--bank BANK --url {mock.url}{user}{extra} --credentials-stdin\n"
    )
    sys.stderr.flush()
    try:
        mock.serve_forever()
    finally:
        mock.stop()


def bench_exchange_command(
    entries: int = typer.Option(
        1_000_000, "--entries", help="Bank entries to apply (NCMEC records carry 1-2)."
    ),
    database: str = typer.Option(None, "--database", help="Database URL (default: a fresh SQLite file)."),
    file_order: str = typer.Option(
        "upstream",
        "--file-order",
        help="The peer's file: entries in the order the mock serves them (upstream), or sorted by value "
        "(sorted: the importer then appends to the bank's digest index, which no API client can).",
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Entries/s applied from the NCMEC mock against `haven bank import` of the same entries as a file."""
    from haven.exchanges.bench import run_bench

    if file_order not in ("upstream", "sorted"):
        raise UsageError(f"--file-order must be upstream or sorted, not {file_order!r}")
    result = run_bench(entries, database, file_order=file_order)
    if json_out:
        emit_json(result)
        return
    say(
        f"exchange fetch (NCMEC mock): {result['exchange_entries']} entries in "
        f"{result['exchange_seconds']:.1f} s "
        f"= {result['exchange_rate']:,.0f} entries/s ({result['pages']} pages)"
    )
    say(
        f"bank import (same entries, CSV file in {result['file_order']} order): "
        f"{result['import_entries']} entries in {result['import_seconds']:.1f} s "
        f"= {result['import_rate']:,.0f} entries/s"
    )
    say(f"ratio exchange/import: {result['ratio']:.2f}x (goal >= 0.5x); database {result['database']}")
    say(f"CPU of this process: exchange {result['exchange_cpu']:.1f} s, import {result['import_cpu']:.1f} s; "
        f"entries per CPU-second ratio {result['cpu_ratio']:.2f}x (load average {result['load']:.1f})")
    say(f"CPU of the mock (its own process) during the fetch: {result['mock_cpu']:.1f} s")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(exchange_app, name="exchange")
    app.command("exchange-mock")(exchange_mock_command)
    bench.command("exchange")(bench_exchange_command)
