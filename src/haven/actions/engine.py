"""``ActionEngine``: from a match to its actions.

On the upload path (``on_match``) it only decides and records: which rules fire, whether the verdict is
*block*, what deterrence message to return, and one ``action_runs`` row per queued action — inserted with
"on conflict do nothing" on (content, rule, action), so a retried upload enqueues nothing new. The
uploaded bytes, when an action needs them, are staged once, sealed by the master key ring, in the same
transaction (with the database broker, the jobs too: one commit on the upload path). Everything slow —
the vault, webhooks, review items, report drafts — runs later in ``run`` on the job queue.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import sqlalchemy
from sqlalchemy import Connection, Engine, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from haven.actions.models import ActionRun, StagedContent
from haven.actions.review_queue import ReviewQueue
from haven.actions.rules import NEEDS_CONTENT, QUEUED, Rule, fired_rules
from haven.actions.settings import ActionSettings
from haven.actions.store import RuleStore
from haven.actions.webhook import deliver
from haven.audit import AuditLog
from haven.errors import FormatError, IntegrityError, NotFoundError, RemoteRejectedError, UsageError
from haven.jobs import DeadLetter, Job, JobQueue, current_try
from haven.signals import signal_names
from haven.store.db import make_session_factory

log = logging.getLogger("haven.actions")
JOB_PREFIX = "action."


@dataclass
class MatchEvent:
    """What the rules see: the result of one match, and the upload it came from (if any)."""

    hashes: dict[str, Any]
    matches: list[dict[str, Any]]
    content_id: str | None = None
    content: bytes | None = field(default=None, repr=False)
    content_type: str | None = None
    name: str | None = None
    context: dict[str, Any] = field(default_factory=dict)  # kind (upload/url/hashes), key, url, time …

    @property
    def content_key(self) -> str:
        """What idempotency is keyed on: the content's SHA-256, else the client's id, else the query."""
        if self.hashes.get("sha256"):
            return f"sha256:{self.hashes['sha256']}"
        if self.content_id:
            return f"id:{self.content_id}"
        signal, value = min((k, v) for k, v in self.hashes.items() if isinstance(v, str) and v)
        return f"{signal}:{value}"

    def record(self) -> dict[str, Any]:
        """The JSON stored with each action run (and preserved as context by a quarantine)."""
        return {
            "hashes": dict(self.hashes),
            "matches": self.matches,
            "content_id": self.content_id,
            "content_type": self.content_type,
            "name": self.name,
            "context": self.context,
        }


@dataclass(frozen=True)
class _Run:
    """What a job handler knows of its action run."""

    id: int
    params: dict[str, Any]
    event: dict[str, Any]
    staged: str | None
    rule_id: int
    rule_name: str
    content_key: str


@dataclass(frozen=True)
class Verdict:
    """What the match response carries about the rules: the verdict, deterrence text, actions started."""

    action: str  # "block" or "allow"
    rules: list[str]
    deterrence: dict[str, Any] | None
    actions: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "rules": self.rules, "actions": self.actions}
        if self.deterrence is not None:
            out["deterrence"] = self.deterrence
        return out


def staged_context(uid: str) -> bytes:
    return f"haven-staged-upload:{uid}".encode()


def _industry_class(matches: list[dict[str, Any]]) -> str | None:
    found = {m.get("category") for m in matches if m.get("category_scheme") == "us-industry"}
    return next((c for c in ("A1", "A2", "B1", "B2") if c in found), None)


class ActionEngine:
    def __init__(
        self,
        engine: Engine,
        rules: RuleStore,
        queue: JobQueue,
        audit: AuditLog,
        settings: ActionSettings,
        reviews: ReviewQueue,
        *,
        vault: Callable[[], Any] | None = None,
        reports: Callable[[], Any] | None = None,
    ) -> None:
        """``vault`` and ``reports`` are factories (the vault needs the master key; report drafting needs the
        reporting settings) so a process that never runs those actions never builds them."""
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.rules = rules
        self.queue = queue
        self.audit = audit
        self.settings = settings
        self.reviews = reviews
        self._vault_factory = vault
        self._reports_factory = reports
        self._vault: Any = None
        self._reports: Any = None
        self._client: httpx.Client | None = None
        runs = cast(Table, ActionRun.__table__)  # Core, not the ORM: this is the upload path
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        # Built once and executed with a list of rows (a .values(rows) statement compiles anew each time,
        # which costs more than the insert itself); "do nothing" on a repeat of (content, rule, action).
        self._insert_runs = (
            dialect.insert(runs)
            .on_conflict_do_nothing(index_elements=["content_key", "rule_id", "action_key"])
            .returning(runs.c.id, runs.c.action, runs.c.params, sort_by_parameter_order=True)
        )
        self._insert_staged = sqlalchemy.insert(cast(Table, StagedContent.__table__))

    @property
    def vault(self) -> Any:
        if self._vault is None:
            if self._vault_factory is None:
                raise UsageError("no evidence vault is configured in this process")
            self._vault = self._vault_factory()
        return self._vault

    @property
    def reports(self) -> Any:
        if self._reports is None:
            if self._reports_factory is None:
                raise UsageError("report drafting is not configured in this process")
            self._reports = self._reports_factory()
        return self._reports

    def _http(self) -> httpx.Client:
        # One client for all deliveries: building one (its TLS context) costs more CPU than a delivery.
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.webhook_timeout, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- registration on the job queue -----------------------------------------------------------------
    def register_jobs(self) -> None:
        s = self.settings
        for kind in sorted(QUEUED):
            webhook = kind == "webhook"
            self.queue.register(
                JOB_PREFIX + kind,
                self.run,
                max_retries=s.webhook_tries - 1 if webhook else 5,
                min_backoff=s.webhook_backoff if webhook else 1.0,
                max_backoff=s.webhook_max_backoff if webhook else 120.0,
                on_dead=self.mark_dead,
                permanent=(RemoteRejectedError, FormatError),
            )
        self.queue.register("action.sweep", self.requeue_stale, max_retries=0)
        self.queue.every(300, "action.sweep")

    # -- the upload path -------------------------------------------------------------------------------
    def has_rules(self) -> bool:
        """Whether any rule is enabled (cached): with none, the match path skips the engine entirely."""
        return bool(self.rules.active()[0])

    def evaluate(self, matches: list[dict[str, Any]], content_type: str | None) -> list[Rule]:
        """The rules that would fire (the dry run)."""
        rules, modes = self.rules.active()
        return fired_rules(rules, modes, matches, content_type)

    def on_match(
        self, event: MatchEvent, *, also: Callable[[Connection, Verdict], None] | None = None
    ) -> Verdict | None:
        """Decide and record the actions for one match result; None when no rule fires. ``also`` runs in the
        same transaction once the verdict is known (the service writes its match record there), so a
        matched upload with rules on commits once, as one with rules off does."""
        if not event.matches:
            return None
        fired = self.evaluate(event.matches, event.content_type)
        if not fired:
            return None
        block, deterrence, planned = False, None, []
        for rule in fired:
            for i, action in enumerate(rule.actions):
                if action.type == "block":
                    block = True
                elif action.type == "deterrence" and deterrence is None:
                    deterrence = self.settings.deterrence(action.params)
                planned.append((rule, i, action))
        now = datetime.now(UTC)
        staged = None
        if event.content is not None and any(a.type in NEEDS_CONTENT for _, _, a in planned):
            uid = uuid.uuid4().hex
            staged = {
                "uid": uid,
                "sealed": self.vault.ring.seal(event.content, context=staged_context(uid)),
                "created_at": now,
            }
        record = event.record()
        rows = [
            {
                "content_key": event.content_key,
                "content_id": event.content_id,
                "sha256": event.hashes.get("sha256"),
                "rule_id": rule.id,
                "rule_name": rule.name,
                "action_key": f"{i}:{a.type}",
                "action": a.type,
                "params": a.params,
                "event": record,
                "staged_uid": staged["uid"] if staged is not None and a.type in NEEDS_CONTENT else None,
                "status": "pending" if a.type in QUEUED else "done",
                "tries": 0,
                "result": None if a.type in QUEUED else {"inline": True},
                "created_at": now,
                "updated_at": now,
            }
            for rule, i, a in planned
        ]
        started: list[dict[str, Any]] = []
        jobs: list[Job] = []
        # One transaction: the staged bytes, the runs, (database broker) their jobs and whatever ``also``
        # writes commit together or not at all, with a single commit on the upload path.
        with self.engine.begin() as conn:
            created = [r for r in conn.execute(self._insert_runs, rows).all() if r is not None]
            if staged is not None and any(kind in NEEDS_CONTENT for _, kind, _ in created):
                conn.execute(self._insert_staged, [staged])  # else a repeat: the first upload had them
            for run_id, kind, params in created:
                if kind not in QUEUED:
                    continue
                tries = params.get("max_tries") if kind == "webhook" else None
                jobs.append(Job(JOB_PREFIX + kind, (run_id,), max_tries=tries))
                started.append({"run": run_id, "action": kind})
            if self.queue.transactional:
                self.queue.enqueue_all_in(conn, jobs)  # one statement for all of them
            verdict = Verdict("block" if block else "allow", [r.name for r in fired], deterrence, started)
            if also is not None:
                also(conn, verdict)
        if self.queue.transactional:
            self.queue.wake()
        else:  # Redis / RabbitMQ, after the commit; a lost enqueue is re-sent by the sweep
            for job in jobs:
                self.queue.enqueue(job.name, *job.args, max_tries=job.max_tries)
        return verdict

    # -- the job side ----------------------------------------------------------------------------------
    def run(self, run_id: int) -> None:
        """Job handler for every queued action: does it once, records the outcome (or the error, and
        raises so the queue retries)."""
        with self.sessions() as s:
            row = s.get(ActionRun, run_id)
            if row is None:
                raise NotFoundError(f"no action run {run_id}")
            if row.status != "pending":
                return  # done or dead already (a redelivery after a crash): never twice
            row.tries = current_try()
            s.commit()
            kind, params, event = row.action, dict(row.params), dict(row.event)
            staged, rule_id, rule_name = row.staged_uid, row.rule_id, row.rule_name
            content_key = row.content_key
        try:
            handler = {
                "quarantine": self._quarantine,
                "review": self._review,
                "webhook": self._webhook,
                "report": self._report,
            }[kind]
            result = handler(_Run(run_id, params, event, staged, rule_id, rule_name, content_key))
        except Exception as exc:
            self._set(run_id, error=f"{exc.__class__.__name__}: {exc}")
            raise
        self._set(run_id, status="done", result=result, error=None)
        self.audit.record(
            f"action.{kind}",
            "system:actions",
            f"action_run:{run_id}",
            {"rule": rule_name, "content": content_key, "result": result, "tries": current_try()},
        )
        if result.get("vault_item") and kind != "quarantine":
            self.vault.annotate(
                result["vault_item"],
                f"action.{kind}",
                {"rule": rule_name, "result": result},
                actor="system:actions",
            )

    def _set(self, run_id: int, **values: Any) -> None:
        with self.sessions() as s:
            s.execute(
                update(ActionRun).where(ActionRun.id == run_id).values(updated_at=datetime.now(UTC), **values)
            )
            s.commit()

    def revive(self, run_id: int) -> None:
        """Make a dead run pending again (its dead letter is being retried)."""
        with self.sessions() as s:
            s.execute(
                update(ActionRun)
                .where(ActionRun.id == run_id, ActionRun.status == "dead")
                .values(status="pending", updated_at=datetime.now(UTC))
            )
            s.commit()

    def mark_dead(self, letter: DeadLetter) -> None:
        """Called when an action's job failed every try: the run is marked dead, visibly, with its error."""
        run_id = int(letter.args[0]) if letter.args else None
        if run_id is None or not letter.job.startswith(JOB_PREFIX):
            return
        self._set(run_id, status="dead", error=letter.last_error_line, tries=letter.tries)
        self.audit.record(
            "action.dead",
            "system:actions",
            f"action_run:{run_id}",
            {
                "job": letter.job,
                "tries": letter.tries,
                "error": letter.last_error_line,
                "dead_letter": letter.id,
            },
        )

    def _vault_item(
        self, run_id: int, event: dict[str, Any], staged: str | None, rule_name: str, content_key: str
    ) -> int | None:
        """The vault item holding this content, putting it there from the staged copy if it is new."""
        sha = (event.get("hashes") or {}).get("sha256")
        if not sha:
            return None
        source = f"sha256:{sha}"
        vault = self.vault
        existing = vault.find(source)
        if existing is not None:
            return int(existing)
        if staged is None:
            return None
        with self.sessions() as s:
            row = s.scalars(select(StagedContent).where(StagedContent.uid == staged)).first()
            if row is None:
                raise IntegrityError(
                    f"the staged upload {staged} is gone and the vault does not hold the content"
                )
            content = vault.ring.open(row.sealed, context=staged_context(staged))
        item = vault.put(
            content,
            name=event.get("name") or sha,
            media_type=event.get("content_type") or "application/octet-stream",
            context={**event, "rule": rule_name, "action_run": run_id},
            actor=f"rule:{rule_name}",
            source_key=source,
        )
        with self.sessions() as s:  # preserved: the staged copy is no longer needed by any run
            s.execute(delete(StagedContent).where(StagedContent.uid == staged))
            s.commit()
        return int(item.id)

    def _quarantine(self, run: _Run) -> dict[str, Any]:
        run_id, event = run.id, run.event
        staged, rule_name, content_key = run.staged, run.rule_name, run.content_key
        item = self._vault_item(run_id, event, staged, rule_name, content_key)
        if item is None:
            return {
                "vault_item": None,
                "note": "no content with this match (a hash-only query): nothing to preserve",
            }
        return {"vault_item": item}

    def _review(self, run: _Run) -> dict[str, Any]:
        run_id, params, event = run.id, run.params, run.event
        staged, rule_id, rule_name, content_key = run.staged, run.rule_id, run.rule_name, run.content_key
        item = self._vault_item(run_id, event, staged, rule_name, content_key)
        matches = event.get("matches") or []
        severity = max((m["severity"] for m in matches if m.get("severity") is not None), default=None)
        priority = params.get("priority")
        queue = params.get("queue")
        if not queue:  # the review console's routing rules (first match wins, else "default")
            from haven.review.queues import route_item
            from haven.review.routing import Facts

            with self.sessions() as s:
                queue = route_item(s, Facts.of(matches, known=True))
        review_id = self.reviews.add(
            queue=str(queue),
            priority=int(priority if priority is not None else (severity or 0)),
            severity=severity,
            known=True,
            content_id=event.get("content_id"),
            sha256=(event.get("hashes") or {}).get("sha256"),
            vault_item_id=item,
            rule_id=rule_id,
            payload=event,
            source_key=f"action_run:{run_id}",
        )
        return {"review_item": review_id, "vault_item": item}

    def webhook_body(self, run_id: int, rule_name: str, event: dict[str, Any]) -> bytes:
        """The exact bytes a delivery sends (the same on every retry)."""
        body = {
            "type": "haven.match",
            "delivery": str(run_id),
            "rule": rule_name,
            "content_id": event.get("content_id"),
            "hashes": event.get("hashes"),
            "matches": event.get("matches"),
            "content_type": event.get("content_type"),
            "received_at": (event.get("context") or {}).get("received_at"),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def _webhook(self, run: _Run) -> dict[str, Any]:
        run_id, params, event, rule_name = run.id, run.params, run.event, run.rule_name
        secret = self.rules.webhook_secret(params)
        status = deliver(
            str(params["url"]),
            secret,
            self.webhook_body(run_id, rule_name, event),
            str(run_id),
            timeout=self.settings.webhook_timeout,
            client=self._http(),
        )
        return {"status": status, "url": params["url"]}

    def _report(self, run: _Run) -> dict[str, Any]:
        run_id, params, event = run.id, run.params, run.event
        staged, rule_name, content_key = run.staged, run.rule_name, run.content_key
        from haven.reporting.case import case_from_dict

        source = f"action:{run_id}"
        existing = self.reports.find_by_source(source)
        if existing is not None:  # drafted before a crash, not yet recorded: never a second draft
            return {
                "report": existing,
                "vault_item": self._vault_item(run_id, event, staged, rule_name, content_key),
            }
        item = self._vault_item(run_id, event, staged, rule_name, content_key)
        if item is None:
            raise FormatError(
                "a CyberTipline report needs the content itself; this match had none (hash-only)",
                code="no_content",
            )
        hashes = event.get("hashes") or {}
        signals = set(signal_names())
        case = case_from_dict(
            {
                "incident": {
                    "type": params.get("incident_type")
                    or "Child Pornography (possession, manufacture, and distribution)",
                    "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "description": f"Matched by Haven rule {rule_name!r} "
                    f"({', '.join(sorted({m.get('bank', '?') for m in event.get('matches') or []}))})",
                },
                "reporter": dict(params["reporter"]),
                "files": [
                    {
                        "path": f"vault:{item}",
                        "original_name": event.get("name"),
                        "classification": _industry_class(event.get("matches") or []),
                        "hashes": {k: v for k, v in hashes.items() if k in signals and isinstance(v, str)},
                    }
                ],
            }
        )
        report_id = self.reports.create_from_case(case, source=source)
        self.vault.link_report(item, report_id, actor="system:actions")
        return {"report": report_id, "vault_item": item}

    # -- upkeep and reading ----------------------------------------------------------------------------
    def requeue_stale(self, older_than: float = 600.0) -> int:
        """Enqueue again the runs still pending long after they were recorded (their enqueue was lost, say
        when the broker was down at the time): runs are idempotent, so a duplicate is harmless."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        with self.sessions() as s:
            stale = s.execute(
                select(ActionRun.id, ActionRun.action).where(
                    ActionRun.status == "pending", ActionRun.updated_at < cutoff
                )
            ).all()
        for run_id, kind in stale:
            self._set(run_id)  # touch, so the next sweep waits again
            self.queue.enqueue(JOB_PREFIX + kind, run_id)
        with self.sessions() as s:  # staged uploads no pending run needs any more
            needed = select(ActionRun.staged_uid).where(
                ActionRun.status == "pending", ActionRun.staged_uid.is_not(None)
            )
            s.execute(
                delete(StagedContent).where(
                    StagedContent.created_at < cutoff, StagedContent.uid.not_in(needed)
                )
            )
            s.commit()
        return len(stale)

    def runs(
        self,
        *,
        content_id: str | None = None,
        status: str | None = None,
        rule: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        q = select(ActionRun).order_by(ActionRun.id.desc()).limit(limit)
        if content_id:
            q = q.where(ActionRun.content_id == content_id)
        if status:
            q = q.where(ActionRun.status == status)
        if rule:
            q = q.where(ActionRun.rule_name == rule)
        with self.sessions() as s:
            return [_run_dict(r) for r in s.scalars(q)]


def _run_dict(r: ActionRun) -> dict[str, Any]:
    params = {k: ("(sealed)" if k == "secret_sealed" else v) for k, v in (r.params or {}).items()}
    return {
        "id": r.id,
        "content_key": r.content_key,
        "content_id": r.content_id,
        "rule": r.rule_name,
        "rule_id": r.rule_id,
        "action": r.action,
        "params": params,
        "status": r.status,
        "tries": r.tries,
        "result": r.result,
        "error": r.error,
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "updated_at": r.updated_at.isoformat() if r.updated_at else None,
    }


#: Members of a match payload that are not facts about the content itself.
_NOT_HASHES = frozenset({"path", "matched", "matches", "content_id", "verdict", "url", "final_url", "error"})


def match_event(payload: Mapping[str, Any], **kw: Any) -> MatchEvent:
    """A ``MatchEvent`` from a match payload (``haven match --json`` / the API's response object): each
    signal's value and quality, the image and file size, whatever signals are registered."""
    hashes = {
        k: v
        for k, v in payload.items()
        if k not in _NOT_HASHES and v is not None and isinstance(v, (str, int, float))
    }
    return MatchEvent(
        hashes=hashes, matches=list(payload.get("matches") or []), content_id=payload.get("content_id"), **kw
    )
