"""``haven vault list|show|hold|release|extend|purge|rotate-key|export|verify|public-key``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from haven.cli import shell_db
from haven.cli.common import emit_json, stderr, stdout
from haven.errors import IntegrityError, UsageError

vault_app = typer.Typer(
    help="The evidence vault: preserved content, retention and legal holds, export packages.",
    no_args_is_help=True,
)


def _vault():  # type: ignore[no-untyped-def]
    return shell_db.runtime().vault()


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a date (YYYY-MM-DD or an ISO 8601 time)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@vault_app.command("list")
def list_command(
    state: str = typer.Option(None, "--state", help="held or purged."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per item."),
) -> None:
    """Preserved items (metadata only; nothing is decrypted)."""
    items = _vault().items(state=state)
    if json_out:
        for i in items:
            emit_json(i.to_dict())
        return
    table = Table("id", "state", "name", "size", "sha256", "kept until", "hold", box=None, pad_edge=False)
    for i in items:
        table.add_row(
            str(i.id),
            i.state,
            i.name,
            str(i.size),
            i.sha256[:16],
            i.retain_until[:19],
            f"yes ({i.hold_by})" if i.hold else "",
        )
    stdout.print(table)


@vault_app.command("show")
def show_command(item: int = typer.Argument(...), json_out: bool = typer.Option(False, "--json")) -> None:
    """One item's metadata, after checking it was not altered."""
    info = _vault().info(item)
    if json_out:
        emit_json(info.to_dict())
        return
    for key, value in info.to_dict().items():
        stdout.print(f"{key:>13}: {value}")


@vault_app.command("hold")
def hold_command(
    item: int = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. the preservation request)."),
) -> None:
    """Put a legal hold on an item: its retention clock stops until it is released."""
    info = _vault().hold(item, reason=reason, actor=shell_db.actor())
    stdout.print(f"item {item} on hold ({info.hold_reason})")


@vault_app.command("release")
def release_command(item: int = typer.Argument(...), reason: str = typer.Option(..., "--reason")) -> None:
    """End a legal hold: the clock runs again with the time that was left."""
    info = _vault().release(item, reason=reason, actor=shell_db.actor())
    stdout.print(f"item {item} released; kept until {info.retain_until}")


@vault_app.command("extend")
def extend_command(
    item: int = typer.Argument(...),
    until: str = typer.Option(..., "--until", help="Keep until this date (later than now set)."),
    reason: str = typer.Option(..., "--reason"),
) -> None:
    """Keep an item longer than its retention, voluntarily, with a recorded reason."""
    info = _vault().extend(item, until=_date(until), reason=reason, actor=shell_db.actor())
    stdout.print(f"item {item} kept until {info.retain_until} ({info.extensions} extension(s))")


@vault_app.command("purge")
def purge_command(dry_run: bool = typer.Option(False, "--dry-run", help="Only list what is due.")) -> None:
    """Purge every item past its retention and not on hold (the scheduled job does this too)."""
    if dry_run:
        due = _vault().due()
        stdout.print(f"{len(due)} item(s) due: {', '.join(map(str, due)) or '-'}")
        return
    purged = shell_db.runtime().purge()
    stdout.print(
        f"purged {len(purged)} item(s): {', '.join(map(str, purged)) or '-'} (recorded in the audit log)"
    )


@vault_app.command("rotate-key")
def rotate_key_command(
    new_key: bool = typer.Option(
        False,
        "--new-key",
        help="First put a fresh master key at the head of the key "
        "file (HAVEN_MASTER_KEY_FILE), then re-wrap under it.",
    ),
) -> None:
    """Re-wrap every item's data key under the newest master key; content is not re-encrypted. Then the old
    master key can be retired (haven.secrets.retire_key)."""
    from haven.evidence import LocalBlobStore, Vault
    from haven.secrets import KeyRing, rotate_key_file

    rt = shell_db.runtime()
    settings = shell_db.settings()
    if new_key:
        if settings.master_key:
            raise UsageError(
                "the master key comes from HAVEN_MASTER_KEY: put the new key first there instead"
            )
        kid = rotate_key_file(settings.resolved_master_key_file)
        stdout.print(f"new master key {kid} at the head of {settings.resolved_master_key_file}")
    ring = KeyRing.load(settings)
    vault = Vault(
        rt.engine,
        ring,
        LocalBlobStore(rt.vault_settings.vault_dir),
        rt.audit,
        retention=rt.vault_settings.retention,
    )
    n = vault.rotate_keys(actor=shell_db.actor())
    stdout.print(f"re-wrapped {n} data key(s) under master key {ring.current_id}")


@vault_app.command("export")
def export_command(
    items: list[int] = typer.Argument(..., help="Vault item ids."),
    out: Path = typer.Option(..., "--out", help="The package to write (.zip); never overwritten."),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. the law-enforcement request)."),
    recipient: str = typer.Option(None, "--recipient", help="Who receives it (recorded in the manifest)."),
) -> None:
    """Write a signed law-enforcement package: content, context, custody log, manifest of hashes."""
    from haven.evidence import export_package

    manifest = export_package(
        _vault(), list(items), out, actor=shell_db.actor(), reason=reason, recipient=recipient
    )
    stdout.print(
        f"{out}: {len(manifest['items'])} item(s), {len(manifest['files'])} files, signed by key "
        f"{manifest['signing_key_fingerprint']}"
    )


@vault_app.command("verify")
def verify_command(
    package: Path = typer.Argument(...),
    key: Path = typer.Option(
        None,
        "--key",
        help="The sender's published public key (PEM); without it the key "
        "in the package is used and its fingerprint printed.",
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Check a package's signature and every file's hash: exit 0 if intact, 3 if refused."""
    from haven.evidence import verify_package

    check = verify_package(package, public_key_pem=key.read_bytes() if key else None)
    if json_out:
        emit_json(check.to_dict())
    elif check.ok:
        stdout.print(
            f"{package}: ok — {check.items} item(s), {check.files} files, signing key {check.fingerprint}"
        )
        if key is None:
            stderr.print("compare the signing key's fingerprint with the one the sender published")
    if not check.ok:
        raise IntegrityError(f"{package}: package refused: {check.problem}")


@vault_app.command("public-key")
def public_key_command() -> None:
    """Print the export signing key's public half (PEM) and fingerprint, to publish for recipients."""
    from haven.evidence import fingerprint
    from haven.evidence.package import signing_key

    _, pem = signing_key(_vault())
    stdout.print(pem.strip())
    stderr.print(f"fingerprint (SHA-256): {fingerprint(pem)}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(vault_app, name="vault")
