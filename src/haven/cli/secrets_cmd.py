"""``haven secrets init|status|rotate|retire``: the master key ring that seals every secret Haven keeps
(``haven.secrets``), and the data sealed under it."""

from __future__ import annotations

from typing import Any

import typer

from haven.cli.common import emit_json, settings, stderr, stdout
from haven.errors import UsageError

secrets_app = typer.Typer(help="The master key that seals Haven's stored secrets (NCMEC credentials, …).",
                          no_args_is_help=True)
JSON_HELP = "Print one JSON object."


def _sealed() -> list[Any]:
    """Every registered kind of sealed data, with the database brought to the current schema (the CLI is
    the shell: it migrates)."""
    from haven.secrets import sealed_data
    from haven.store.db import upgrade_database

    upgrade_database(settings().resolved_database_url)
    return sealed_data()


def _usage(ring: Any) -> dict[str, dict[str, int]]:
    """Sealed blobs of every registered kind of data, by the key that sealed them."""
    return {d.name: d.usage(ring, settings()) for d in _sealed()}


def _reseal(ring: Any) -> dict[str, int]:
    return {d.name: d.reseal(ring, settings()) for d in _sealed()}


def _legacy_note() -> str | None:
    from haven.reporting.credentials import legacy_key_file

    path = legacy_key_file(settings())
    if path is None:
        return None
    return (f"{path} (the pre-key-ring credentials key) is still in the data folder: once `haven secrets "
            f"status` shows no legacy data, delete it: shred -u {path}")


@secrets_app.command("init")
def init_command(
    stdout_only: bool = typer.Option(False, "--print", help="Print a new key for HAVEN_MASTER_KEY instead of "
                                                            "writing a key file."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create the master key file (mode 0600, outside the data folder) and seal what is not yet sealed
    under it (credentials stored by an older Haven, migrated from <data dir>/secret.key)."""
    from haven.secrets import KeyRing, encode_key, key_id, new_key

    if stdout_only:
        key = new_key()
        if json_out:
            emit_json({"key": encode_key(key), "key_id": key_id(key).hex()})
        else:
            stdout.print(encode_key(key))
            stderr.print(f"key {key_id(key).hex()}: put it first in HAVEN_MASTER_KEY (comma-separated, "
                         "newest first), then run: haven secrets rotate")
        return
    s = settings()
    path = s.resolved_master_key_file
    fresh = s.master_key is None and not path.exists()
    ring = KeyRing.load(s, create=True)  # refuses a key file inside the data folder
    created = ring.current_id if fresh else None
    resealed = _reseal(ring)
    usage = _usage(ring)
    note = _legacy_note()
    if json_out:
        emit_json({"source": ring.source, "created": created, "current": ring.current_id,
                   "resealed": resealed, "usage": usage, "legacy_key_file": note})
        return
    if created:
        stdout.print(f"created master key {created} in {path} (mode 0600, outside the data folder)")
    else:
        stdout.print(f"master key ring already set up ({ring.source}; current key {ring.current_id})")
    for name, n in resealed.items():
        if n:
            stdout.print(f"{name}: {n} sealed under {ring.current_id}")
    if note:
        stderr.print(note)


@secrets_app.command("status")
def status_command(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Where the master key ring comes from, its keys, and what is sealed under each."""
    from haven.secrets import KeyRing

    ring = KeyRing.load(settings())
    usage = _usage(ring)
    note = _legacy_note()
    if json_out:
        emit_json({"source": ring.source, "current": ring.current_id, "keys": ring.key_ids, "usage": usage,
                   "legacy_key_file": note})
        return
    stdout.print(f"master key ring: {ring.source}")
    for kid in ring.key_ids:
        uses = ", ".join(f"{name} {counts[kid]}" for name, counts in usage.items() if counts.get(kid))
        uses = uses or "nothing"
        stdout.print(f"  {kid}{' (current)' if kid == ring.current_id else ''}: seals {uses}")
    for name, counts in usage.items():
        foreign = {k: v for k, v in counts.items() if k not in ring.key_ids}
        for kid, n in sorted(foreign.items()):
            what = "legacy (not yet under the ring; run: haven secrets init)" if kid == "legacy" else \
                f"sealed under {kid}, which this ring does not hold"
            stderr.print(f"{name}: {n} {what}")
    if note:
        stderr.print(note)


@secrets_app.command("rotate")
def rotate_command(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Put a new master key first and re-seal everything under it. Older keys stay in the file until
    `haven secrets retire`. With HAVEN_MASTER_KEY, put the new key (`haven secrets init --print`) first
    there yourself; rotate then re-seals under it."""
    from haven.secrets import KeyRing, rotate_key_file

    s = settings()
    old = KeyRing.load(s)
    if s.master_key is None:
        rotate_key_file(s.resolved_master_key_file)
    ring = KeyRing.load(s)
    resealed = _reseal(ring)
    retired = [k for k in old.key_ids if k != ring.current_id]
    if json_out:
        emit_json({"source": ring.source, "current": ring.current_id, "resealed": resealed,
                   "can_retire": retired})
        return
    if ring.current_id == old.current_id:
        stdout.print(f"current key is still {ring.current_id} (from {ring.source}); re-sealed under it")
    else:
        stdout.print(f"new master key {ring.current_id} in {ring.source}")
    for name, n in resealed.items():
        stdout.print(f"{name}: {n} re-sealed under {ring.current_id}")
    for kid in retired:
        stdout.print(f"older key {kid} now seals nothing; drop it with: haven secrets retire {kid}")


@secrets_app.command("retire")
def retire_command(
    key: str = typer.Argument(..., help="Hex id of an older key (from `haven secrets status`)."),
) -> None:
    """Remove an older key from the key file, once nothing is sealed under it."""
    from haven.secrets import KeyRing, retire_key

    s = settings()
    ring = KeyRing.load(s)
    users = {name: counts[key] for name, counts in _usage(ring).items() if counts.get(key)}
    if users:
        raise UsageError(f"key {key} still seals {', '.join(f'{n} {name}' for name, n in users.items())}; "
                         "run `haven secrets rotate` first")
    if s.master_key is not None:
        raise UsageError(f"the ring comes from HAVEN_MASTER_KEY: remove key {key} from that variable "
                         "yourself (nothing is sealed under it any more)")
    retire_key(s.resolved_master_key_file, key)
    stdout.print(f"retired key {key}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")
