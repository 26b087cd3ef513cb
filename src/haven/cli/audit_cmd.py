"""``haven audit verify|anchor|list``: check the tamper-evident audit log, copy its head out, read it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from haven.cli import shell_db
from haven.cli.common import emit_json, stderr, stdout
from haven.errors import IntegrityError

audit_app = typer.Typer(
    help="The tamper-evident audit log: verify the chain, write anchors, list entries.", no_args_is_help=True
)


def _log():  # type: ignore[no-untyped-def]
    from haven.audit import AuditLog

    return AuditLog(shell_db.engine())


@audit_app.command("verify")
def verify_command(
    anchors: list[Path] = typer.Option(
        [], "--anchors", help="A file of anchors (JSON lines) to check the log against; repeatable."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check every entry's hash and link, and every anchor: exit 0 if intact, 3 naming the first broken."""
    from haven.audit import read_anchors

    given = [a for path in anchors for a in read_anchors(path)]
    result = _log().verify(given)
    if json_out:
        emit_json(result.to_dict())
    elif result.ok:
        head = f"head {result.head.seq} {result.head.hash}" if result.head else "empty log"
        stdout.print(f"ok: {result.entries} entries, {result.anchors_checked} anchors checked; {head}")
    if not result.ok:
        assert result.problem is not None
        raise IntegrityError(
            f"audit log broken at entry {result.problem.seq} ({result.problem.kind}): "
            f"{result.problem.message}",
            code=f"audit_{result.problem.kind}",
        )


@audit_app.command("anchor")
def anchor_command(
    out: Path = typer.Option(
        None,
        "--out",
        help="Append the anchor to this file (JSON lines); keep it off "
        "the database's machine. Without it the anchor is printed.",
    ),
) -> None:
    """Print (or append to a file) the chain head: seq, hash and time of the newest entry."""
    import json

    from haven.audit import append_anchor

    head = _log().head()
    if head is None:
        stderr.print("the audit log is empty: nothing to anchor")
        raise typer.Exit(0)
    if out is not None:
        append_anchor(out, head)
        stderr.print(f"anchor for entry {head.seq} appended to {out}")
    else:
        stdout.print(json.dumps(head.to_dict(), sort_keys=True))


@audit_app.command("list")
def list_command(
    event: str = typer.Option(None, "--event", help="Only this event (e.g. vault.export)."),
    target: str = typer.Option(None, "--target", help="Only entries about this target (e.g. vault:3)."),
    actor: str = typer.Option(None, "--actor", help="Only entries by this actor."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per entry per line."),
) -> None:
    """The newest audit entries, optionally filtered."""
    entries = _log().entries(event=event, target=target, actor=actor, limit=limit, newest_first=True)
    if json_out:
        for e in entries:
            emit_json(e.to_dict())
        return
    table = Table("seq", "at", "event", "actor", "target", "detail", box=None, pad_edge=False)
    for e in entries:
        table.add_row(str(e.seq), e.at, e.event, e.actor, e.target or "", str(e.detail) if e.detail else "")
    stdout.print(table)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
