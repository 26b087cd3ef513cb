"""``haven report …`` (create, list, show, validate, submit, retract, status, reconcile, login) and ``haven
ncmec-mock``."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import typer
from rich.table import Table

from haven.cli.common import emit_json, settings, stderr, stdout
from haven.errors import FormatError, HavenError, UsageError

report_app = typer.Typer(
    help="NCMEC CyberTipline reports: build from a case file or match results, validate, submit exactly "
    "once.",
    no_args_is_help=True,
)

JSON_HELP = "Print JSON instead of a table."


def _service():  # type: ignore[no-untyped-def]
    from haven.reporting.service import ReportService
    from haven.reporting.settings import ReportingSettings
    from haven.store.db import upgrade_database

    url = settings().resolved_database_url
    upgrade_database(url)
    return ReportService(url, settings=settings(), reporting=ReportingSettings.from_env())


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text.strip())
    if not m:
        raise UsageError(f"{text!r} is not a duration (e.g. 90s, 30m, 1h, 2d)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return timedelta(seconds=float(m.group(1)) * unit)


def _print_report(r: dict, *, events: bool = False) -> None:
    stdout.print(
        f"report {r['id']}: {r['state']}  (source {r['source']}, environment {r['environment'] or '-'})"
    )
    if r["ncmec_report_id"]:
        stdout.print(f"  NCMEC report id: {r['ncmec_report_id']}  finished {r['finished_at']}")
        stdout.print(f"  preservation: {r['preservation_starts_at']} → {r['preservation_ends_at']}")
    if r["last_error"]:
        stdout.print(f"  last error: {r['last_error']}")
    files = Table("#", "name", "size", "md5", "pdq", box=None, pad_edge=False)
    for f in r.get("files", []):
        files.add_row(str(f["idx"]), f["name"], str(f["size"]), f["md5"], f["pdq"] or "")
    stdout.print(files)
    for a in r.get("attempts", []):
        ups = ", ".join(f"file {u['file']} {u['state']}" for u in a["uploads"])
        stdout.print(
            f"  attempt {a['seq']}: {a['state']}  NCMEC id {a['ncmec_report_id'] or '-'}"
            + (f"  [{ups}]" if ups else "")
        )
    for e in r.get("events", []) if events else []:
        stdout.print(
            f"  {e['at']}  {e['kind']}  {json.dumps(e['detail']) if e['detail'] is not None else ''}"
        )


@report_app.command("create")
def create_command(
    case_file: Path = typer.Argument(None, help="Case file (.json, .yaml or .yml); see docs/reporting.md."),
    from_match: Path = typer.Option(
        None,
        "--from-match",
        help="`haven match --json` output (JSON lines) to report instead of a case file.",
    ),
    reporter: Path = typer.Option(
        None,
        "--reporter",
        help="With --from-match: a case file supplying the reporter, incident and reported user.",
    ),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Build, validate and store a draft report; prints its id. Nothing is sent to NCMEC."""
    from haven.reporting.case import load_case

    svc = _service()
    if from_match is not None:
        if reporter is None:
            raise UsageError("--from-match needs --reporter CASE_FILE (for the reporter and incident)")
        template = load_case(reporter)
        try:
            lines = [
                json.loads(line)
                for line in from_match.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
        except json.JSONDecodeError as exc:
            raise FormatError(f"not JSON lines: {exc.msg}", path=from_match, line=exc.lineno) from None
        except OSError as exc:
            raise UsageError(f"{from_match}: {exc.strerror}") from None
        rid = svc.create_from_match(
            lines,
            template.reporter,
            incident=template.incident,
            internet=template.internet,
            reported_user=template.reported_user,
        )
    elif case_file is not None:
        rid = svc.create_from_case(load_case(case_file))
    else:
        raise UsageError("give a CASE file or --from-match MATCHES --reporter CASE")
    if json_out:
        emit_json(svc.get(rid))
    else:
        stdout.print(f"created report {rid} (draft); send it with: haven report submit {rid}")


@report_app.command("list")
def list_command(
    state: str = typer.Option(None, "--state", help="Only reports in this state (draft, finished …)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List reports, newest first."""
    rows = _service().list(state=state)
    if json_out:
        for r in rows:
            emit_json(r)
        return
    table = Table("id", "state", "source", "files", "ncmec id", "updated", "error", box=None, pad_edge=False)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["state"],
            r["source"],
            str(r["files"]),
            str(r["ncmec_report_id"] or ""),
            (r["updated_at"] or "")[:19],
            (r["last_error"] or "")[:60],
        )
    stdout.print(table)


@report_app.command("show")
def show_command(
    report_id: int = typer.Argument(..., help="Haven report id."),
    xml: bool = typer.Option(False, "--xml", help="Print the report XML instead."),
    events: bool = typer.Option(False, "--events", help="Include the audit trail."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show one report: state, NCMEC ids, files with hashes, attempts and (optionally) every step taken."""
    svc = _service()
    if xml:
        sys.stdout.write(svc.xml(report_id))
        return
    r = svc.get(report_id, events=events)
    if json_out:
        emit_json(r)
    else:
        _print_report(r, events=events)


@report_app.command("validate")
def validate_command(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE", help="XML documents (<report>, <fileDetails> …) to check."
    ),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per file."),
) -> None:
    """Check XML against NCMEC's XSD, parsed safely. Exit 0 if all are valid, 2 if any is not (naming the
    element)."""
    from haven.errors import SchemaError
    from haven.reporting.schema import validate_file

    bad = 0
    for path in files:
        try:
            root = validate_file(path)
        except HavenError as exc:
            bad += 1
            element = exc.element if isinstance(exc, SchemaError) else None
            if json_out:
                emit_json(
                    {
                        "path": str(path),
                        "valid": False,
                        "element": element,
                        "line": getattr(exc, "line", None),
                        **exc.to_dict(),
                    }
                )
            else:
                stdout.print(f"{path}: INVALID  {exc.message.removeprefix(f'{path}: ')}")
            continue
        if json_out:
            emit_json({"path": str(path), "valid": True, "root": root.tag})
        else:
            stdout.print(f"{path}: valid <{root.tag}>")
    if bad:
        raise typer.Exit(2)


@report_app.command("submit")
def submit_command(
    report_id: int = typer.Argument(..., help="Haven report id."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Don't print each step on stderr."),
) -> None:
    """Send the report to NCMEC (or resume an interrupted submission); never files it twice."""
    svc = _service()
    stderr.print(f"submitting report {report_id} to the {svc.reporting.environment!r} environment …")
    if not quiet:
        svc.machine.on_event = lambda _rid, kind, detail: stderr.print(
            f"  {kind} {json.dumps(detail) if detail is not None else ''}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    r = svc.submit(report_id)
    if json_out:
        emit_json(r)
    else:
        _print_report(r)


@report_app.command("retract")
def retract_command(
    report_id: int = typer.Argument(..., help="Haven report id."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Cancel a report that is not finished yet (finished reports cannot be retracted through the API)."""
    r = _service().retract(report_id)
    if json_out:
        emit_json(r)
    else:
        _print_report(r)


@report_app.command("status")
def status_command(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Check the NCMEC connection and credentials (/status) and count local reports by state."""
    svc = _service()
    counts: dict[str, int] = {}
    for r in svc.list():
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    remote: dict[str, object]
    try:
        resp = svc.status()
        remote = {"ok": True, "response_code": resp.response_code, "description": resp.description}
    except HavenError as exc:
        remote = {"ok": False, **exc.to_dict()}
    if json_out:
        emit_json({"environment": svc.reporting.environment, "remote": remote, "reports": counts})
    else:
        stdout.print(f"environment: {svc.reporting.environment}")
        stdout.print(
            "NCMEC: "
            + ("ok — " + str(remote["description"]) if remote["ok"] else "FAILED — " + str(remote["message"]))
        )
        stdout.print("reports: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    if not remote["ok"]:
        raise typer.Exit(3)


@report_app.command("reconcile")
def reconcile_command(
    max_age: str = typer.Option("30m", "--max-age", help="Act on reports in flight untouched for this long."),
    retract: bool = typer.Option(False, "--retract", help="Retract stuck reports instead of finishing them."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Finish (or retract) reports stuck mid-submission and retract orphan NCMEC reports; run it from cron."""
    outcomes = _service().reconcile(_duration(max_age), retract=retract)
    for o in outcomes:
        if json_out:
            emit_json(o)
        else:
            stdout.print(
                f"report {o['id']}: {o['action']} {'ok' if o['ok'] else 'FAILED ' + o['error']['message']}"
            )
    if not outcomes and not json_out:
        stdout.print("nothing to reconcile")
    if any(not o["ok"] for o in outcomes):
        raise typer.Exit(3)


@report_app.command("login")
def login_command(
    username: str = typer.Option(..., "--username", help="NCMEC API user name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    env: str = typer.Option(None, "--env", help="Environment (default: HAVEN_NCMEC_ENV or test)."),
) -> None:
    """Store NCMEC API credentials, sealed with the master key ring (`haven secrets init` creates it)."""
    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("password", hide_input=True)
    )
    if not password:
        raise UsageError("empty password")
    svc = _service()
    svc.save_credentials(username, password, env)
    stdout.print(f"credentials for {env or svc.reporting.environment!r} stored "
                 "(sealed with the master key ring)")


def ncmec_mock_command(
    port: int = typer.Option(8765, "--port", help="TCP port on 127.0.0.1 (0: any free port)."),
    user: list[str] = typer.Option(
        ["haven:haven-test-password"], "--user", help="USER:PASSWORD accepted (repeatable)."
    ),
    expire_after: float = typer.Option(
        3600.0, "--expire-after", help="Seconds after which an unfinished report is deleted."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Log every request."),
) -> None:
    """Run a local CyberTipline conformance server (same endpoints, XSD checks, injectable faults)."""
    from haven.reporting.mock import MockNcmec

    users = {}
    for item in user:
        name, sep, password = item.partition(":")
        if not sep or not name:
            raise UsageError(f"--user {item!r}: expected USER:PASSWORD")
        users[name] = password
    mock = MockNcmec(port=port, users=users, expire_after=expire_after, verbose=verbose)
    root = f"http://127.0.0.1:{mock.port}"
    # Plain writes, not rich: these lines are meant to be copied, so they must not be wrapped.
    sys.stderr.write(
        f"NCMEC mock on {mock.url} (users: {', '.join(users)})\n"
        f"faults: POST {root}/_mock/faults   reports: GET {root}/_mock/reports\n"
        f"use it with: HAVEN_NCMEC_ENV=mock HAVEN_NCMEC_URL={mock.url} haven report …\n"
    )
    sys.stderr.flush()
    try:
        mock.serve_forever()
    finally:
        mock.stop()


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.command("ncmec-mock")(ncmec_mock_command)
