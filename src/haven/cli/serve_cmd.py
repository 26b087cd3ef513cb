"""``haven serve``, ``haven keys create|list|revoke`` and ``haven bench service``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import typer
from rich.table import Table

from haven.cli.common import emit_json, stderr, stdout
from haven.cli.common import settings as cli_settings
from haven.config import Settings
from haven.errors import UsageError

keys_app = typer.Typer(help="Manage API keys for the service (secrets are shown once, stored hashed).",
                       no_args_is_help=True)


def _key_store():  # type: ignore[no-untyped-def]
    from haven.auth.keys import KeyStore
    from haven.store.db import upgrade_database

    url = cli_settings().resolved_database_url
    upgrade_database(url)  # the CLI is the shell: it migrates
    return KeyStore(url)


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="A label for the key (who or what uses it)."),
    scope: list[str] = typer.Option(
        ..., "--scope", "-s", help="match, banks:write, admin (all), review, report; repeat for several."
    ),
    rate_limit: float = typer.Option(
        None, "--rate-limit", help="Requests/s per worker for this key (0 = unlimited; default: server's)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print {key, id, scopes, …} as JSON."),
) -> None:
    """Create an API key and print its secret — the only time it is shown."""
    store = _key_store()
    try:
        key, secret = store.create(name, scope, rate_limit=rate_limit)
    finally:
        store.close()
    if json_out:
        emit_json({"key": secret, **key.to_dict()})
        return
    stdout.print(f"created key {key.id} ({key.name}) with scopes {', '.join(key.scopes)}")
    stdout.print(secret)
    stderr.print("store it now: the secret is not kept and cannot be shown again")


@keys_app.command("list")
def keys_list(
    json_out: bool = typer.Option(False, "--json", help="One JSON object per key per line."),
) -> None:
    """List API keys (never their secrets)."""
    store = _key_store()
    try:
        keys = store.list()
    finally:
        store.close()
    if json_out:
        for k in keys:
            emit_json(k.to_dict())
        return
    table = Table("id", "name", "prefix", "scopes", "rate/s", "created", "revoked", box=None, pad_edge=False)
    for k in keys:
        table.add_row(
            str(k.id),
            k.name,
            k.prefix + "…",
            ",".join(k.scopes),
            "" if k.rate_limit is None else f"{k.rate_limit:g}",
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "",
        )
    stdout.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: int = typer.Argument(..., help="The key's id (from `haven keys list`)."),
    json_out: bool = typer.Option(False, "--json", help="Print the revoked key as JSON."),
) -> None:
    """Revoke an API key; every worker refuses it within a second."""
    store = _key_store()
    try:
        key = store.revoke(key_id)
    finally:
        store.close()
    if json_out:
        emit_json(key.to_dict())
    else:
        stdout.print(f"revoked key {key.id} ({key.name})")


def _demo_admin(settings: Settings, ui_url: str) -> None:
    """First run of a local service: a staff admin with a one-time password, printed with what to type."""
    from haven.auth.core import Auth
    from haven.service.settings import auth_policy_from_env

    # Admins sign in with TOTP, whose secrets are sealed with the master key (serve_command made it).
    auth = Auth(settings.resolved_database_url, policy=auth_policy_from_env())
    try:
        if auth.users.list("staff"):
            stdout.print(
                f"web UI {ui_url}: staff accounts exist; for a new one-time password: "
                "haven users reset-password admin"
            )
            return
        user, once = auth.add_user("staff", "admin", ["admin"], actor="serve --dev-key")
    finally:
        auth.close()
    stdout.print(f"created web UI user {user.username!r} (role admin). Open {ui_url} and sign in with")
    stdout.print(f"  username: {user.username}")
    stdout.print(f"  one-time password: {once}")
    stdout.print(
        "then choose your own password and add Haven to an authenticator app (admins sign in with a "
        "6-digit TOTP code; the page shows a QR code and the secret)"
    )


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes (each has its own index)."),
    dev_key: bool = typer.Option(
        False,
        "--dev-key",
        help="With no active key yet, create and print a local all-scopes key (also when HAVEN_DEV=1).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the matching service (FastAPI + uvicorn) on the Haven database."""
    import uvicorn

    from haven.secrets import KeyRing
    from haven.service.connections import GuardedHttpToolsProtocol
    from haven.service.settings import ServiceSettings
    from haven.store.db import upgrade_database

    if workers < 1:
        raise UsageError("--workers must be ≥ 1")
    settings = cli_settings()
    dev = dev_key or os.environ.get("HAVEN_DEV") == "1"
    # The master key ring seals every secret Haven keeps: a missing, misplaced or readable key file stops the
    # service here, before it answers anything. Only the dev/demo path (`make run`) may create it.
    KeyRing.load(settings, create=dev)
    url = settings.resolved_database_url
    upgrade_database(url)  # once here, so workers start without racing on migrations
    shown = f"[{host}]" if ":" in host else host
    if dev:
        store = _key_store()
        try:
            if store.count_active() == 0:
                key, secret = store.create("dev", ["match", "banks:write", "admin"])
                stdout.print(f"created local API key {key.id} (all scopes): {secret}")
                stdout.print(f"try: curl -H 'Authorization: Bearer {secret}' http://{shown}:{port}/v1/banks")
            else:  # secrets are never stored, so an earlier dev key cannot be shown again
                stdout.print(
                    "API keys already exist (their secrets are shown only once); for a new one: "
                    "haven keys create dev --scope admin"
                )
        finally:
            store.close()
        _demo_admin(settings, f"http://{shown}:{port}/ui")
        from haven.cli.portal_cmd import print_demo_account

        print_demo_account(f"http://{shown}:{port}/portal")
    os.environ["HAVEN_SERVICE_MIGRATE"] = "0"
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="haven-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    stdout.print(
        f"Haven service on http://{shown}:{port}  (API docs /docs, UI /ui, recovery network /portal, "
        f"{workers} worker(s), "
        f"database {url.split('://', 1)[0]})"
    )
    service = ServiceSettings.from_env()
    try:
        uvicorn.run("haven.service.app:create_app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, access_log=False, timeout_graceful_shutdown=5,
                    # Header deadline and connection cap (service/connections.py); idle keep-alive limit.
                    http=GuardedHttpToolsProtocol, timeout_keep_alive=service.keepalive_timeout,
                    server_header=False,
                    # Workers import numpy/FastAPI and map the index while starting; on a busy 2-core
                    # host that can starve the supervisor's 5 s ping and get healthy workers killed.
                    timeout_worker_healthcheck=60)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def bench_service_command(
    n: int = typer.Option(1_000_000, "--n", help="Random PDQ hashes stored in the bank."),
    duration: float = typer.Option(
        10.0, "--duration", help="Seconds of load per scenario (after 2 s warm-up)."
    ),
    concurrency: int = typer.Option(16, "--concurrency", "-c", help="Connections for hash matching."),
    upload_concurrency: int = typer.Option(4, "--upload-concurrency", help="Connections for image uploads."),
    workers: int = typer.Option(2, "--workers", "-w", help="Service worker processes."),
    photos: Path = typer.Option(Path("../shared/data/photos"), "--photos", help="Benign photos to upload."),
    max_photos: int = typer.Option(200, "--max-photos", help="Use at most this many photos."),
    keep: Path = typer.Option(None, "--keep", help="Keep the database and index in this folder."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Serve N stored hashes and drive the API from a second process over loopback: req/s, p50/p99."""
    from haven.service.bench import run_service_bench

    report = run_service_bench(
        n=n,
        duration=duration,
        concurrency=concurrency,
        upload_concurrency=upload_concurrency,
        workers=workers,
        photos=photos,
        max_photos=max_photos,
        keep=keep,
        log=stderr.print,
    )
    if json_out:
        emit_json(report)
        return
    h, u = report["hash_match"], report["upload_match"]
    table = Table(
        "scenario",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "server CPU ms/req",
        "conns",
        "statuses",
        box=None,
        pad_edge=False,
    )
    hma = report["hma_raw_lookup"]
    for name, r in (("hash match (PDQ)", h), ("HMA raw_lookup (PDQ)", hma), ("image upload match", u)):
        table.add_row(
            name,
            f"{r['rps']:,.0f}",
            f"{r['p50_ms']}",
            f"{r['p90_ms']}",
            f"{r['p99_ms']}",
            f"{r['max_ms']}",
            f"{r['server_cpu_ms_per_request']}",
            str(r["concurrency"]),
            json.dumps(r["statuses"]),
        )
    stdout.print(
        f"{report['n']:,} stored PDQ hashes, {report['workers']} workers, {report['cpus']} CPUs; "
        f"seed {report['seed_seconds']} s, index build {report['index_build_seconds']} s, "
        f"start-up {report['startup_seconds']} s, worker RSS {report['worker_rss_mib']} MiB, "
        f"host load average {report['host_load_avg_1m']}"
    )
    stdout.print(table)
    stdout.print(
        f"peer: Matcher.match_hashes in-process, one thread, no HTTP: "
        f"{report['inprocess_match_per_s']:,.0f} queries/s; HTTP / in-process = "
        f"{report['http_vs_inprocess_match']:.2f}×"
    )
    stdout.print(
        f"peer: the same PDQ values through HMA's GET /hma/m/raw_lookup: {hma['rps']:,.0f} req/s = "
        f"{report['hma_vs_native']:.2f}× the native POST /v1/match/hashes"
    )
    a = report["app_paths"]
    stdout.print(
        f"peer: in-process ASGI, same queries: lean path {a['lean_us']:.0f} µs/request, FastAPI route "
        f"{a['fastapi_us']:.0f} µs/request (= {a['fastapi_vs_lean']:.2f}× the lean path), "
        f"matcher alone {a['matcher_us']:.0f} µs"
    )
    stdout.print(
        f"peer: CLI hashing of the same {report['photos']} photos: "
        f"{report['cli_hash_files_per_s']:.0f} files/s; "
        f"upload matching / CLI hashing = {report['upload_vs_cli_hashing']:.2f}×"
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.add_typer(keys_app, name="keys")
    bench.command("service")(bench_service_command)
