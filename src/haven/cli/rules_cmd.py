"""``haven rules list|add|remove|import|export|mode|dry-run`` and ``haven actions runs``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from haven.cli import shell_db
from haven.cli.common import emit_json, stderr, stdout
from haven.errors import FormatError, UsageError

rules_app = typer.Typer(
    help="Rules: which matches fire which actions (block, quarantine, review, webhook, report, deterrence).",
    no_args_is_help=True,
)
actions_app = typer.Typer(help="Recorded actions and their outcomes.", no_args_is_help=True)


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise FormatError(
            f"not YAML: {getattr(exc, 'problem', exc)}",
            path=path,
            line=line + 1 if line is not None else None,
        ) from None


def _action_flag(text: str) -> Any:
    """``block`` or ``webhook:url=https://…,secret=s3cret`` or ``review:queue=csam,priority=5``."""
    kind, _, rest = text.partition(":")
    if not rest:
        return kind
    params: dict[str, Any] = {"type": kind}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            raise UsageError(f"--action {text!r}: want TYPE:key=value,…")
        params[key] = int(value) if value.isdigit() else value
    return params


@rules_app.command("list")
def list_command(
    json_out: bool = typer.Option(False, "--json", help="Print the rules document as JSON."),
) -> None:
    """The rules in order, with their rule set's mode."""
    rt = shell_db.runtime()
    rules, modes = rt.rules.list(), rt.rules.modes()
    if json_out:
        emit_json({"rulesets": modes, "rules": [r.to_dict() for r in rules]})
        return
    table = Table("id", "set (mode)", "#", "name", "on", "when", "actions", box=None, pad_edge=False)
    for r in rules:
        table.add_row(
            str(r.id),
            f"{r.ruleset} ({modes.get(r.ruleset, 'first')})",
            str(r.position),
            r.name,
            "yes" if r.enabled else "no",
            json.dumps(r.when, sort_keys=True),
            ", ".join(a.type for a in r.actions),
        )
    stdout.print(table)


@rules_app.command("add")
def add_command(
    name: str = typer.Argument(..., help="A unique rule name."),
    action: list[str] = typer.Option(
        ...,
        "--action",
        "-a",
        help="block, quarantine, deterrence, "
        "review[:queue=Q,priority=N], webhook:url=U,secret=S[,max_tries=N]; repeatable.",
    ),
    bank: list[str] = typer.Option([], "--bank", help="Only matches from this bank (repeatable)."),
    category: list[str] = typer.Option([], "--category", help="Only matches of this category (repeatable)."),
    min_severity: int = typer.Option(None, "--min-severity", help="Only matches at least this severe."),
    signal: list[str] = typer.Option([], "--signal", help="Only matches by this signal (repeatable)."),
    max_distance: int = typer.Option(None, "--max-distance", help="Only matches at most this far."),
    content_type: list[str] = typer.Option(
        [], "--content-type", help="Only uploads of this type, e.g. image/*."
    ),
    ruleset: str = typer.Option(
        "default", "--ruleset", help="The rule set (ordered; see `haven rules mode`)."
    ),
) -> None:
    """Add a rule at the end of its rule set."""
    from haven.actions.rules import parse_rule

    when: dict[str, Any] = {
        k: v
        for k, v in {
            "banks": bank,
            "categories": category,
            "signals": signal,
            "content_types": content_type,
        }.items()
        if v
    }
    if min_severity is not None:
        when["min_severity"] = min_severity
    if max_distance is not None:
        when["max_distance"] = max_distance
    rule = parse_rule(
        {"name": name, "ruleset": ruleset, "when": when, "actions": [_action_flag(a) for a in action]},
        "--action",
    )
    added = shell_db.runtime().rules.add(rule, actor=shell_db.actor())
    stdout.print(
        f"added rule {added.id} {added.name!r} to rule set {added.ruleset!r} at position {added.position}"
    )


@rules_app.command("remove")
def remove_command(ref: str = typer.Argument(..., help="Rule id or name.")) -> None:
    """Remove a rule."""
    gone = shell_db.runtime().rules.remove(ref, actor=shell_db.actor())
    stdout.print(f"removed rule {gone.id} {gone.name!r}")


@rules_app.command("mode")
def mode_command(
    ruleset: str = typer.Argument(...), mode: str = typer.Argument(..., help="first or all")
) -> None:
    """Set how a rule set fires: `first` (first matching rule only) or `all` (every matching rule)."""
    shell_db.runtime().rules.set_mode(ruleset, mode, actor=shell_db.actor())
    stdout.print(f"rule set {ruleset!r}: {mode}")


@rules_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="A rules document (YAML or JSON): rulesets and rules."),
    replace: bool = typer.Option(False, "--replace", help="Also remove rules the file does not name."),
) -> None:
    """Add or update rules by name, in the file's order."""
    from haven.actions.rules import parse_document

    modes, rules = parse_document(_load(file), str(file))
    counts = shell_db.runtime().rules.import_rules(modes, rules, actor=shell_db.actor(), replace_all=replace)
    stdout.print(f"{file}: {counts['added']} added, {counts['updated']} updated, {counts['removed']} removed")


@rules_app.command("export")
def export_command(out: Path = typer.Option(None, "--out", help="Write here instead of stdout.")) -> None:
    """The rules as a YAML document (webhook secrets stay sealed under the master key)."""
    text = yaml.safe_dump(shell_db.runtime().rules.export(), sort_keys=False, allow_unicode=True)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        stderr.print(f"rules written to {out}")


@rules_app.command("dry-run")
def dry_run_command(
    match: Path = typer.Argument(
        ...,
        help="A match result: `haven match --json` output (JSON lines) or one JSON "
        "object with `matches`; `-` for stdin.",
    ),
    content_type: str = typer.Option(None, "--content-type", help="The upload's type (e.g. image/jpeg)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per result."),
) -> None:
    """Which rules each match would fire, and their actions (nothing runs, nothing is recorded)."""
    text = sys.stdin.read() if str(match) == "-" else match.read_text(encoding="utf-8")
    try:
        items = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if "\n{" in text.strip()
            else [json.loads(text)]
        )
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON: {exc.msg}", path=match, line=exc.lineno) from None
    rt = shell_db.runtime()
    for item in items:
        fired = rt.actions.evaluate(list(item.get("matches") or []), content_type)
        out = {
            "path": item.get("path") or item.get("content_id"),
            "fires": [
                {"rule": r.name, "ruleset": r.ruleset, "actions": [a.type for a in r.actions]} for r in fired
            ],
        }
        if json_out:
            emit_json(out)
        else:
            fires = (
                "; ".join(f"{f['rule']} → {', '.join(f['actions'])}" for f in out["fires"]) or "no rule fires"
            )
            stdout.print(f"{out['path']}: {fires}")


@actions_app.command("runs")
def runs_command(
    content_id: str = typer.Option(None, "--content-id", help="Only this content."),
    status: str = typer.Option(None, "--status", help="pending, done or dead."),
    limit: int = typer.Option(50, "--limit", min=1),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per run."),
) -> None:
    """Recorded actions, newest first, with their outcome (result, or error and tries)."""
    runs = shell_db.runtime().actions.runs(content_id=content_id, status=status, limit=limit)
    if json_out:
        for r in runs:
            emit_json(r)
        return
    table = Table(
        "id", "rule", "action", "status", "tries", "result / error", "content", box=None, pad_edge=False
    )
    for r in runs:
        table.add_row(
            str(r["id"]),
            r["rule"],
            r["action"],
            r["status"],
            str(r["tries"]),
            r["error"] or json.dumps(r["result"]),
            (r["content_id"] or r["content_key"])[:20],
        )
    stdout.print(table)


def bench_actions_command(
    photos: Path = typer.Option(
        Path("../shared/data/photos"), "--photos", help="Folder of photos to upload."
    ),
    max_photos: int = typer.Option(40, "--max-photos", min=1, help="How many distinct pictures."),
    duration: float = typer.Option(10.0, "--duration", min=1, help="Seconds per phase."),
    rounds: int = typer.Option(2, "--rounds", min=1, help="Off/on phase pairs, alternating."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Connections uploading at once."),
    side: int = typer.Option(512, "--side", min=64, help="Longest side of the uploads (px)."),
    worker: str = typer.Option(
        "after",
        "--worker",
        help="after (the upload path alone: no worker while uploads are timed; a `haven worker` drains "
        "the queue afterwards), embedded (the service runs the actions meanwhile, on the same cores) or "
        "separate (a `haven worker` beside it, on the same cores).",
    ),
    drain: float = typer.Option(
        120.0, "--drain", min=0, help="Most seconds to wait for the queue to drain after the uploads."
    ),
    keep: Path = typer.Option(None, "--keep", help="Keep the data folder here (serve.log, database, vault)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Uploads/s with rules off against rules on (quarantine + webhook) on one `haven serve`, same run."""
    from haven.actions.bench import run_actions_bench

    r = run_actions_bench(
        photos=photos,
        max_photos=max_photos,
        duration=duration,
        concurrency=concurrency,
        side=side,
        log=stderr.print,
        worker=worker,
        rounds=rounds,
        keep=keep,
        drain=drain,
    )
    if json_out:
        emit_json(r)
        return
    for name in ("off", "on"):
        p = r[name]
        stdout.print(
            f"rules {name:>3}: {p['rps']:7.1f} uploads/s {p['rps_each']}  p50 {p['p50_ms']} ms  "
            f"p99 {p['p99_ms']} ms  "
            f"server CPU {p['server_cpu_ms_per_request']} ms/upload  statuses {p['statuses']}"
        )
    stdout.print(
        f"on/off: {r['ratio_on_off']}x  (slowdown {r['slowdown_pct']} %; goal ≤ 10 %; worker {r['worker']})"
    )
    a = r["actions"]
    stdout.print(
        f"actions: {a['done']} done, {a['dead']} dead, {a['webhooks_received']} webhooks received "
        f"(signatures ok: {a['signatures_ok']}), {a['vault_blobs']} items in the vault, {a['pending']} "
        f"pending; "
        + (
            f"queue drained in {a['drained_after_s']} s"
            if a["drained_after_s"] is not None
            else f"queue not drained after {a['drain_waited_s']} s (--drain)"
        )
        + (f" ({a['done_per_s']} actions/s)" if a["done_per_s"] is not None else "")
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
    app.add_typer(actions_app, name="actions")
    bench.command("actions")(bench_actions_command)
