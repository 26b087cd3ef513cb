"""``ReviewService``: what the review console does, free of HTTP — hand out items under leases, show an
item (previews, matches beside their bank entries, upload context, earlier decisions), reveal with a
reason, decide (confirm, false positive, escalate, skip), comment, and count each reviewer's exposure.

Every decision, reveal and comment is an entry of the hash-chained audit log (``review.<what>``, target
``review:<item id>``). Every operation on an item checks that the caller holds its lease.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from haven.actions.review_queue import UNKNOWN_BOOST, ReviewQueue, ReviewTask
from haven.audit import AuditLog
from haven.auth.actor import Actor
from haven.banks.types import utc
from haven.errors import ConflictError, NotFoundError, PermissionDeniedError, UsageError
from haven.review import exposure, previews
from haven.review.config import CLASSIFICATIONS, ReviewConfig, load_config, save_config
from haven.review.models import CommentRow, DecisionRow, RevealRow
from haven.review.queues import Queue, get_queue, queues_for, route_item
from haven.review.routing import Facts
from haven.store.db import make_session_factory

DECISIONS = ("confirm", "false_positive", "escalate", "skip")


@dataclass(frozen=True)
class Next:
    """The answer to "next item": the item, or why there is none (``empty``, ``cap``, ``break``)."""

    item: ReviewTask | None
    reason: str | None = None


@dataclass
class ItemView:
    """Everything the item page shows (never the content itself: the page loads the preview by URL)."""

    task: ReviewTask
    queue: Queue
    kind: str
    matches: list[dict[str, Any]]  # each match beside its bank entry's provenance
    context: dict[str, Any]
    earlier: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    revealed: bool
    blur: int
    lease_seconds: int
    facts: Facts
    extra: dict[str, Any] = field(default_factory=dict)



class ReviewService:
    """The console over one database. ``vault``, ``reports`` and ``banks`` are factories (built on first
    use: the vault needs the master key ring, reports the reporting settings)."""

    def __init__(
        self,
        engine: Engine,
        audit: AuditLog,
        reviews: ReviewQueue,
        *,
        vault: Callable[[], Any],
        reports: Callable[[], Any] | None = None,
        banks: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.reviews = reviews
        self.sessions = make_session_factory(engine)
        self._vault, self._reports, self._banks = vault, reports, banks
        self.now = clock or (lambda: datetime.now(UTC))

    @contextmanager
    def begin(self) -> Iterator[Session]:
        with self.sessions() as s:
            yield s
            s.commit()

    # -- settings ----------------------------------------------------------------------------------------
    def config(self) -> ReviewConfig:
        with self.sessions() as s:
            return load_config(s)

    def configure(self, actor: Actor, changes: dict[str, Any]) -> ReviewConfig:
        """Change the console's settings (admins); audited as ``review.config``."""
        with self.begin() as s:
            cfg = save_config(s, changes)
            self.audit.record(
                "review.config",
                actor.label,
                "review:config",
                {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items()},
                session=s,
            )
            return cfg

    # -- queues ------------------------------------------------------------------------------------------
    def queues(self, actor: Actor) -> list[tuple[Queue, int]]:
        """The queues ``actor`` may work, each with its number of pending items."""
        with self.sessions() as s:
            mine = queues_for(s, actor)
        return [(q, self.reviews.pending(q.name)) for q in mine]

    def _queue_for(self, s: Session, actor: Actor, name: str) -> Queue:
        queue = get_queue(s, name)
        if not queue.admits(actor):
            raise PermissionDeniedError(f"you may not work the queue {name!r}")
        return queue

    # -- feeding the queues ------------------------------------------------------------------------------
    def route(self, matches: list[dict[str, Any]], *, known: bool = True) -> str:
        with self.sessions() as s:
            return route_item(s, Facts.of(matches, known=known))

    def submit(
        self,
        actor: Actor,
        content: bytes,
        *,
        name: str,
        media_type: str,
        note: str = "",
        content_id: str | None = None,
    ) -> int:
        """Manual escalation: content someone found (no bank match) goes into the vault and a routed queue,
        before any known content (``known=False``)."""
        import hashlib

        if not content:
            raise UsageError("the file is empty")
        sha = hashlib.sha256(content).hexdigest()
        context = {
            "kind": "manual",
            "by": actor.label,
            "note": note[:2000],
            "received_at": self.now().isoformat(),
        }
        item = self._vault().put(
            content,
            name=name or sha,
            media_type=media_type or "application/octet-stream",
            context=context,
            actor=actor.label,
            source_key=f"sha256:{sha}",
        )
        queue = self.route([], known=False)
        item_id = self.reviews.add(
            queue=queue,
            priority=0,
            known=False,
            content_id=content_id,
            sha256=sha,
            vault_item_id=int(item.id),
            payload={
                "hashes": {"sha256": sha},
                "matches": [],
                "name": name,
                "content_type": media_type,
                "content_id": content_id,
                "context": context,
            },
        )
        self.audit.record(
            "review.submit",
            actor.label,
            f"review:{item_id}",
            {"queue": queue, "vault_item": int(item.id), "sha256": sha},
        )
        return item_id

    # -- handing out -------------------------------------------------------------------------------------
    def next_item(self, actor: Actor, queue: str | None = None) -> Next:
        """The item ``actor`` holds, else the most urgent free one of their queues (or of ``queue``), leased
        to them; refused (``cap``/``break``) when their exposure says stop."""
        held = self.reviews.held_by(actor.label)
        if held is not None:
            return Next(held)
        now = self.now()
        with self.begin() as s:
            cfg = load_config(s)
            reason = exposure.stop_reason(s, actor.id, actor.name, now, cfg)
            if reason is not None:
                return Next(None, reason)
            names = (
                [self._queue_for(s, actor, queue).name] if queue else [q.name for q in queues_for(s, actor)]
            )
            skipped = (
                s.scalars(
                    select(DecisionRow.item_id).where(
                        DecisionRow.user_id == actor.id,
                        DecisionRow.decision == "skip",
                        DecisionRow.at >= now - timedelta(hours=cfg.skip_hours),
                    )
                ).all()
                if cfg.skip_hours
                else []
            )
        if not names:
            return Next(None, "empty")
        task = self.reviews.lease_next(
            actor.label,
            queues=names,
            lease=timedelta(minutes=cfg.lease_minutes),
            exclude=sorted(set(skipped)),
        )
        if task is None:
            return Next(None, "empty")
        # Two requests of one reviewer at once (a double click, two tabs) may each have leased an item, or
        # together passed the cap: the database's own counts decide, and the extra lease is given back.
        held = self.reviews.held_by(actor.label)
        if held is not None and held.id != task.id:
            self.reviews.release(task.id, actor.label)
            return Next(held)
        with self.begin() as s:
            seen = exposure.count_item(s, actor.id, actor.name, self.now(), cfg)
            if cfg.daily_cap and seen > cfg.daily_cap:
                s.rollback()
                self.reviews.release(task.id, actor.label)
                return Next(None, "cap")
            self.audit.record(
                "review.lease", actor.label, f"review:{task.id}", {"queue": task.queue}, session=s
            )
        return Next(task)

    def _held(self, actor: Actor, item_id: int) -> ReviewTask:
        task = self.reviews.get(item_id)
        until = task.lease_until
        if task.state != "pending" or task.lease_owner != actor.label or until is None or until < self.now():
            raise ConflictError(
                f"you do not hold review item {item_id} (decided, or its lease ran out); take the next item"
            )
        return task

    # -- showing -----------------------------------------------------------------------------------------
    def view(self, actor: Actor, item_id: int) -> ItemView:
        """The item page's content; opening it renews the reviewer's lease (a full ``lease_minutes`` from
        now), so a lease runs out only when the page is left alone that long."""
        self._held(actor, item_id)
        with self.sessions() as s:
            cfg = load_config(s)
        self.reviews.renew(item_id, actor.label, lease=timedelta(minutes=cfg.lease_minutes))
        task = self.reviews.get(item_id)
        with self.sessions() as s:
            queue = get_queue(s, task.queue)
            blur = cfg.clamp_blur(exposure.prefs(s, actor.id).blur)
            s.rollback()
            earlier = self._earlier(s, task)
            comments = [
                {"actor": c.actor, "text": c.text, "at": utc(c.at)}
                for c in s.scalars(
                    select(CommentRow).where(CommentRow.item_id == task.id).order_by(CommentRow.id)
                )
            ]
            revealed = self._revealed(s, actor, task, cfg)
        info = self._vault().info(task.vault_item_id) if task.vault_item_id is not None else None
        declared = getattr(info, "media_type", None) or task.payload.get("content_type")
        if task.vault_item_id is None:
            kind = "none"  # a hash-only match: there is no content to show
        else:
            kind = previews.media_kind(b"", declared) if declared else "other"
        matches = self._matches(task.payload.get("matches") or [])
        context = {k: task.payload.get(k) for k in ("name", "content_type", "content_id")}
        context.update(task.payload.get("context") or {})
        lease_left = int(((task.lease_until or self.now()) - self.now()).total_seconds())
        return ItemView(
            task,
            queue,
            kind,
            matches,
            context,
            earlier,
            comments,
            revealed,
            blur,
            lease_left,
            Facts.of(task.payload.get("matches") or [], known=task.known),
        )

    def _matches(self, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [int(m["entry_id"]) for m in matches if m.get("entry_id") is not None]
        entries: dict[int, Any] = {}
        if ids and self._banks is not None:
            try:
                entries = {e.id: e for e in self._banks().get_entries(ids)}
            except Exception:  # noqa: BLE001 - an entry removed since the match: show the match alone
                entries = {}
        out = []
        for m in matches:
            e = entries.get(int(m["entry_id"])) if m.get("entry_id") is not None else None
            out.append({"match": m, "entry": e.to_dict() if e is not None else None})
        return out

    def _earlier(self, s: Session, task: ReviewTask) -> list[dict[str, Any]]:
        keys = []
        if task.sha256:
            keys.append(DecisionRow.sha256 == task.sha256)
        if task.content_id:
            keys.append(DecisionRow.content_id == task.content_id)
        if not keys:
            return []
        from sqlalchemy import or_

        rows = s.scalars(
            select(DecisionRow)
            .where(or_(*keys), DecisionRow.decision != "skip")
            .order_by(DecisionRow.id.desc())
            .limit(20)
        )
        return [
            {
                "item": r.item_id,
                "decision": r.decision,
                "classification": r.classification,
                "actor": r.actor,
                "at": utc(r.at),
                "note": r.note,
            }
            for r in rows
        ]

    def _revealed(self, s: Session, actor: Actor, task: ReviewTask, cfg: ReviewConfig) -> bool:
        since = self.now() - timedelta(minutes=cfg.lease_minutes)
        return (
            s.scalars(
                select(RevealRow.id)
                .where(RevealRow.item_id == task.id, RevealRow.user_id == actor.id, RevealRow.at >= since)
                .limit(1)
            ).first()
            is not None
        )

    def _content(self, actor: Actor, task: ReviewTask, purpose: str, *, reveal: str | None = None) -> bytes:
        if task.vault_item_id is None:
            raise NotFoundError(f"review item {task.id} has no content in the vault (a hash-only match)")
        vault = self._vault()
        if reveal is not None:
            return bytes(vault.reveal(task.vault_item_id, actor=actor.label, reason=reveal))
        return bytes(vault.read(task.vault_item_id, actor=actor.label, purpose=purpose))

    def preview(self, actor: Actor, item_id: int) -> previews.Derived:
        """The blurred, grayscale preview at the reviewer's strength (lease holders only)."""
        task = self._held(actor, item_id)
        with self.sessions() as s:
            cfg = load_config(s)
            blur = cfg.clamp_blur(exposure.prefs(s, actor.id).blur)
            s.rollback()
        content = self._content(actor, task, f"review preview of review:{item_id}")
        derived = previews.blurred(
            content,
            radius=blur,
            side=cfg.preview_side,
            declared=task.payload.get("content_type"),
            label=f"review:{item_id}",
        )
        if derived is None:
            raise NotFoundError("no preview can be made of this item (not an image or video we can decode)")
        return derived

    def reveal(self, actor: Actor, item_id: int, reason: str) -> None:
        """Record a reveal with its reason (audited, counted); the original may then be fetched."""
        reason = reason.strip()
        if len(reason) < 5:
            raise UsageError("say why you need to see the original (at least a few words)")
        task = self._held(actor, item_id)
        now = self.now()
        with self.begin() as s:
            cfg = load_config(s)
            s.add(RevealRow(item_id=task.id, user_id=actor.id, reason=reason[:2000], at=now))
            exposure.count_reveal(s, actor.id, actor.name, now, cfg)
            self.audit.record(
                "review.reveal",
                actor.label,
                f"review:{task.id}",
                {"reason": reason[:2000], "vault_item": task.vault_item_id},
                session=s,
            )

    def original(self, actor: Actor, item_id: int) -> previews.Derived:
        """The revealed original (an image's bytes, a video's unblurred key frames): only after ``reveal``
        by this reviewer during this lease; each fetch is a ``vault.reveal`` audit entry."""
        task = self._held(actor, item_id)
        with self.sessions() as s:
            cfg = load_config(s)
            if not self._revealed(s, actor, task, cfg):
                raise PermissionDeniedError("reveal the item with a reason first")
            reason = (
                s.scalars(
                    select(RevealRow.reason)
                    .where(RevealRow.item_id == task.id, RevealRow.user_id == actor.id)
                    .order_by(RevealRow.id.desc())
                    .limit(1)
                ).first()
                or "review"
            )
        content = self._content(actor, task, "", reveal=reason)
        out = previews.revealed(
            content,
            side=cfg.preview_side,
            declared=task.payload.get("content_type"),
            label=f"review:{item_id}",
        )
        if out is None:
            raise NotFoundError("this item cannot be shown (not an image or video we can decode)")
        return out

    def set_blur(self, actor: Actor, radius: int) -> int:
        """A reviewer's own blur strength; refused outside the admin's bounds."""
        with self.begin() as s:
            cfg = load_config(s)
            if not cfg.blur_min <= radius <= cfg.blur_max:
                raise UsageError(f"choose a blur between {cfg.blur_min} and {cfg.blur_max}")
            exposure.prefs(s, actor.id).blur = radius
            return radius

    def blur_of(self, actor: Actor) -> int:
        with self.sessions() as s:
            cfg = load_config(s)
            value = cfg.clamp_blur(exposure.prefs(s, actor.id).blur)
            s.rollback()
            return value

    # -- deciding ----------------------------------------------------------------------------------------
    def comment(self, actor: Actor, item_id: int, text: str) -> None:
        text = text.strip()
        if not text:
            raise UsageError("the comment is empty")
        task = self._held(actor, item_id)
        with self.begin() as s:
            row = CommentRow(
                item_id=task.id,
                sha256=task.sha256,
                user_id=actor.id,
                actor=actor.label,
                text=text[:4000],
                at=self.now(),
            )
            s.add(row)
            s.flush()
            self.audit.record(
                "review.comment", actor.label, f"review:{task.id}", {"comment": row.id}, session=s
            )

    def decide(
        self,
        actor: Actor,
        item_id: int,
        decision: str,
        *,
        classification: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Decide on an item the actor holds. ``confirm`` needs an industry classification and runs the
        configured actions; ``false_positive`` gives feedback on every matched bank entry (which stops it
        matching); ``escalate`` moves the item to the leads' queue; ``skip`` gives it back. Audited."""
        if decision not in DECISIONS:
            raise UsageError(f"unknown decision {decision!r}; choose from {', '.join(DECISIONS)}")
        task = self._held(actor, item_id)
        cfg = self.config()
        note = (note or "").strip()[:4000] or None
        detail: dict[str, Any] = {}
        if decision == "confirm":
            if classification not in CLASSIFICATIONS:
                raise UsageError(f"confirm needs a classification: {', '.join(CLASSIFICATIONS)}")
            detail = self._confirm(actor, task, classification, cfg)
            self.reviews.complete(task.id, actor.label, decision)
        elif decision == "false_positive":
            detail = self._false_positive(actor, task)
            self.reviews.complete(task.id, actor.label, decision)
        elif decision == "escalate":
            if task.queue == cfg.escalation_queue:
                raise ConflictError(
                    "this item is already with the leads; confirm or mark it a false positive"
                )
            with self.sessions() as s:
                get_queue(s, cfg.escalation_queue)
            self.reviews.move(
                task.id, actor.label, cfg.escalation_queue, priority=task.priority + UNKNOWN_BOOST
            )
            detail = {"to": cfg.escalation_queue}
        else:
            self.reviews.release(task.id, actor.label)
        facts = Facts.of(task.payload.get("matches") or [], known=task.known)
        now = self.now()
        with self.begin() as s:
            s.add(
                DecisionRow(
                    item_id=task.id,
                    sha256=task.sha256,
                    content_id=task.content_id,
                    queue=task.queue,
                    decision=decision,
                    classification=classification if decision == "confirm" else None,
                    banks=sorted(facts.banks),
                    user_id=actor.id,
                    actor=actor.label,
                    note=note,
                    detail=detail,
                    at=now,
                )
            )
            exposure.touch(s, actor.id, actor.name, now, cfg)
            self.audit.record(
                f"review.{decision}",
                actor.label,
                f"review:{task.id}",
                {
                    "queue": task.queue,
                    "classification": classification if decision == "confirm" else None,
                    "sha256": task.sha256,
                    "note": note,
                    **detail,
                },
                session=s,
            )
        return detail

    def _confirm(
        self, actor: Actor, task: ReviewTask, classification: str, cfg: ReviewConfig
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "quarantine" in cfg.confirm_actions and task.vault_item_id is not None:
            self._vault().annotate(
                task.vault_item_id,
                "review",
                {
                    "decision": "confirm",
                    "classification": classification,
                    "review_item": task.id,
                    "by": actor.label,
                },
                actor=actor.label,
            )
            out["vault_item"] = task.vault_item_id
        if "report" in cfg.confirm_actions:
            out["report"] = self._report(actor, task, classification, cfg)
        return out

    def _report(self, actor: Actor, task: ReviewTask, classification: str, cfg: ReviewConfig) -> int:
        if self._reports is None:
            raise UsageError("report drafting is not configured in this process")
        if task.vault_item_id is None:
            raise UsageError("a CyberTipline report needs the content; this item has none in the vault")
        if not (cfg.reporter.get("email") or cfg.reporter.get("phone")):
            raise UsageError("set the reporter (an email or phone) in the review settings before confirming")
        from haven.reporting.case import case_from_dict
        from haven.signals import signal_names

        reports = self._reports()
        source = f"review:{task.id}"
        existing = reports.find_by_source(source)
        if existing is not None:
            return int(existing)
        hashes = task.payload.get("hashes") or {}
        signals = set(signal_names())
        banks = sorted({m.get("bank", "?") for m in task.payload.get("matches") or []})
        case = case_from_dict(
            {
                "incident": {
                    "type": "Child Pornography (possession, manufacture, and distribution)",
                    "time": self.now().isoformat().replace("+00:00", "Z"),
                    "description": "Confirmed by a reviewer in Haven's review console"
                    + (f" (matched {', '.join(banks)})" if banks else ""),
                },
                "reporter": dict(cfg.reporter),
                "files": [
                    {
                        "path": f"vault:{task.vault_item_id}",
                        "original_name": task.payload.get("name"),
                        "classification": classification,
                        "hashes": {k: v for k, v in hashes.items() if k in signals and isinstance(v, str)},
                    }
                ],
            }
        )
        report_id = int(reports.create_from_case(case, source=source))
        self._vault().link_report(task.vault_item_id, report_id, actor=actor.label)
        return report_id

    def _false_positive(self, actor: Actor, task: ReviewTask) -> dict[str, Any]:
        ids = sorted(
            {int(m["entry_id"]) for m in task.payload.get("matches") or [] if m.get("entry_id") is not None}
        )
        if not ids:
            return {"entries": []}
        if self._banks is None:
            raise UsageError("the banks are not available in this process")
        store = self._banks()
        done = []
        for entry_id in ids:
            try:
                store.set_feedback(entry_id, "false_positive", actor=actor.label)
                done.append(entry_id)
            except NotFoundError:  # removed from its bank since the match
                continue
        return {"entries": done}

    def report(self, report_id: int) -> dict[str, Any] | None:
        """A report draft's summary (state, files), or None where reporting is not configured."""
        if self._reports is None:
            return None
        return dict(self._reports().get(report_id))

    def take_break(self, actor: Actor) -> None:
        with self.begin() as s:
            exposure.take_break(s, actor.id, self.now())
            self.audit.record("review.break", actor.label, f"user:{actor.id}", {}, session=s)

    def today(self, actor: Actor) -> exposure.Exposure:
        with self.sessions() as s:
            return exposure.today(s, actor.id, actor.name, self.now())

    def team(self, days: int = 7) -> list[tuple[exposure.Exposure, exposure.Exposure]]:
        with self.sessions() as s:
            return exposure.team(s, self.now(), days)

    def decisions(self, item_id: int) -> list[dict[str, Any]]:
        with self.sessions() as s:
            return [
                {
                    "decision": r.decision,
                    "classification": r.classification,
                    "actor": r.actor,
                    "detail": r.detail,
                    "at": utc(r.at),
                }
                for r in s.scalars(
                    select(DecisionRow).where(DecisionRow.item_id == item_id).order_by(DecisionRow.id)
                )
            ]
