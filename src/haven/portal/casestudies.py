"""Case studies: a structured form, the de-identification check before submission, moderator approval before
publication, comments once published.

    draft ──submit (every finding fixed or justified)──▶ submitted ──approve──▶ published
      ▲                                                     │
      └──────────────── return (with a note) ◀──────────────┘──reject──▶ rejected

A finding is identified by its section, kind and text, so a justification stays attached while the author
edits elsewhere, and disappears with the span when the span is fixed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from haven.portal import audit, deid, search
from haven.portal.actors import MODERATORS, Actor
from haven.portal.models import CaseStudy, Comment, Member, utcnow
from haven.portal.notify import Notifier
from haven.portal.store import fetch
from haven.portal.text import N_

SECTIONS = ("context", "needs", "interventions", "roles", "outcomes", "lessons")
SECTION_TITLES = {
    "context": N_("Context"),
    "needs": N_("The child's needs"),
    "interventions": N_("Interventions"),
    "roles": N_("Multi-agency roles"),
    "outcomes": N_("Outcomes"),
    "lessons": N_("Lessons learned"),
}


class DeidentificationRequired(ConflictError):
    """Submission stopped: some flagged spans are neither fixed nor justified (``findings`` lists them)."""

    code = "deid_unresolved"

    def __init__(self, findings: list[dict[str, Any]]) -> None:
        self.findings = findings
        super().__init__(
            f"{len(findings)} possible identifier(s) must be fixed or justified before submission"
        )


def finding_key(f: dict[str, Any]) -> str:
    return f"{f['section']}|{f['kind']}|{f['text']}"


def run_check(
    title: str, sections: dict[str, str], justifications: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Findings over the title and every section, each with its justification (``""`` if none)."""
    justifications = justifications or {}
    out = []
    for section, body in (("title", title), *((s, sections.get(s, "")) for s in SECTIONS)):
        for f in deid.check(body):
            item = {"section": section, **f.to_dict()}
            item["justification"] = justifications.get(finding_key(item), "").strip()
            out.append(item)
    return out


def _clean_sections(sections: dict[str, str]) -> dict[str, str]:
    clean = {s: (sections.get(s) or "").strip()[:20000] for s in SECTIONS}
    if not any(clean.values()):
        raise InputError("write at least one section", code="missing_field")
    return clean


def create(
    db: Session, actor: Actor, *, title: str, country: str, language: str, sections: dict[str, str]
) -> CaseStudy:
    actor.require("member", *MODERATORS)
    if not title.strip():
        raise InputError("title is required", code="missing_field")
    cs = CaseStudy(
        author_id=actor.member_id,
        status="draft",
        title=title.strip()[:300],
        country=country.upper()[:2] or "XX",
        language=language[:8] or "en",
        sections=_clean_sections(sections),
        deid_findings=[],
    )
    db.add(cs)
    db.flush()
    return cs


def get(db: Session, case_study_id: int) -> CaseStudy:
    return fetch(db, CaseStudy, case_study_id, "case study")


def visible(db: Session, actor: Actor, case_study_id: int) -> CaseStudy:
    """A case study this actor may read: published ones, their own, and any for moderators."""
    cs = get(db, case_study_id)
    if cs.status != "published" and cs.author_id != actor.member_id and not actor.is_moderator:
        raise NotFoundError(f"no case study {case_study_id}")
    return cs


def _own_editable(db: Session, actor: Actor, case_study_id: int) -> CaseStudy:
    cs = get(db, case_study_id)
    if cs.author_id != actor.member_id:
        raise PermissionDeniedError("only its author edits a case study")
    if cs.status not in ("draft", "returned"):
        raise ConflictError(f"a {cs.status} case study cannot be edited", code="wrong_state")
    return cs


def update(
    db: Session, actor: Actor, case_study_id: int, *, title: str, sections: dict[str, str]
) -> CaseStudy:
    cs = _own_editable(db, actor, case_study_id)
    if not title.strip():
        raise InputError("title is required", code="missing_field")
    cs.title = title.strip()[:300]
    cs.sections = _clean_sections(sections)
    return cs


def check(
    db: Session, actor: Actor, case_study_id: int, justifications: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run the check and keep its findings (with any justifications given now or before)."""
    cs = _own_editable(db, actor, case_study_id)
    previous = {finding_key(f): f.get("justification", "") for f in cs.deid_findings or []}
    previous.update({k: v for k, v in (justifications or {}).items() if v.strip()})
    cs.deid_findings = run_check(cs.title, cs.sections, previous)
    return cs.deid_findings


def submit(
    db: Session, actor: Actor, case_study_id: int, justifications: dict[str, str] | None = None
) -> CaseStudy:
    """Send to moderation; refused with ``DeidentificationRequired`` while a finding is unexplained."""
    findings = check(db, actor, case_study_id, justifications)
    open_findings = [f for f in findings if not f["justification"]]
    if open_findings:
        raise DeidentificationRequired(open_findings)
    cs = get(db, case_study_id)
    cs.status, cs.submitted_at = "submitted", utcnow()
    return cs


def moderate(
    db: Session,
    actor: Actor,
    case_study_id: int,
    action: str,
    note: str = "",
    *,
    notifier: Notifier | None = None,
) -> CaseStudy:
    """approve (publish and index), return (to its author, with a note) or reject; audited."""
    actor.require(*MODERATORS)
    cs = get(db, case_study_id)
    if cs.status != "submitted":
        raise ConflictError(
            f"only a submitted case study can be moderated (this one is {cs.status})", code="wrong_state"
        )
    if cs.author_id == actor.member_id:
        raise ConflictError("a moderator cannot approve their own case study", code="own_work")
    targets = {"approve": "published", "return": "returned", "reject": "rejected"}
    if action not in targets:
        raise InputError(f"unknown action {action!r}", code="bad_action")
    if action != "approve" and not note.strip():
        raise InputError("say why, for the author", code="missing_field")
    cs.status, cs.review_note = targets[action], note.strip()
    if action == "approve":
        cs.published_at = utcnow()
        search.index(
            db,
            "case_study",
            cs.id,
            cs.title,
            "\n\n".join(cs.sections[s] for s in SECTIONS),
            language=cs.language,
            country=cs.country,
        )
    audit.record(db, f"case_study.{action}", actor, f"case_study:{cs.id}", {"note": note.strip()})
    author = db.get(Member, cs.author_id) if cs.author_id else None
    if notifier is not None and author is not None and author.email and author.notify_email:
        notifier.send(
            author.email,
            f"Your case study was {targets[action]}",
            f'Your case study "{cs.title}" was {targets[action]}.' + (f"\n\n{note.strip()}" if note else ""),
        )
    return cs


def listing(db: Session, *, status: str = "published", author_id: int | None = None) -> list[CaseStudy]:
    query = select(CaseStudy).where(CaseStudy.status == status).order_by(CaseStudy.id.desc())
    if author_id is not None:
        query = select(CaseStudy).where(CaseStudy.author_id == author_id).order_by(CaseStudy.id.desc())
    return list(db.scalars(query))


def add_comment(db: Session, actor: Actor, case_study_id: int, body: str) -> Comment:
    actor.require("member", *MODERATORS)
    cs = get(db, case_study_id)
    if cs.status != "published":
        raise ConflictError("comments open once a case study is published", code="wrong_state")
    if not body.strip():
        raise InputError("write something", code="missing_field")
    comment = Comment(case_study_id=cs.id, author_id=actor.member_id, body=body.strip()[:5000])
    db.add(comment)
    db.flush()
    return comment


def hide_comment(db: Session, actor: Actor, comment_id: int, reason: str) -> Comment:
    actor.require(*MODERATORS)
    comment = db.get(Comment, comment_id)
    if comment is None:
        raise NotFoundError(f"no comment {comment_id}")
    comment.hidden = True
    audit.record(db, "comment.hide", actor, f"comment:{comment.id}", {"reason": reason.strip()})
    return comment


def comments(db: Session, case_study_id: int, *, include_hidden: bool = False) -> list[Comment]:
    query = select(Comment).where(Comment.case_study_id == case_study_id).order_by(Comment.id)
    if not include_hidden:
        query = query.where(Comment.hidden.is_(False))
    return list(db.scalars(query))
