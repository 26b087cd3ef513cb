"""Applications, vetting, suspension and leaving.

    applied ──approve──▶ approved ──suspend──▶ suspended ──reinstate──▶ approved
       │  ▲                 │                     │
       │  └─resubmit─ more_info ◀──ask_more──┘    └──────────┬──────────────┘
       └──reject──▶ rejected                           leave (export, then erasure) ──▶ left

Only ``approved`` members see anything behind the landing page. Every moderator decision is recorded
(``haven.portal.audit``) in the same transaction as the change, and e-mailed to the applicant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel import Locale
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from haven.errors import ConflictError, InputError
from haven.portal import audit
from haven.portal.actors import MODERATORS, Actor
from haven.portal.models import (
    AssessedCase,
    CaseStudy,
    Comment,
    Instrument,
    Member,
    Post,
    Resource,
    ResourceVersion,
    Subscription,
    SurveyResponse,
    Topic,
    utcnow,
)
from haven.portal.notify import Notifier
from haven.portal.store import fetch

PROFESSIONS = (
    "social_worker",
    "therapist",
    "police_family_liaison",
    "teacher",
    "health",
    "ngo",
    "researcher",
    "other",
)
STATUSES = ("applied", "more_info", "approved", "rejected", "suspended", "left")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EN = Locale("en")


@dataclass(frozen=True)
class Application:
    """What an applicant fills in on the public form."""

    name: str
    email: str
    organisation: str
    profession: str
    country: str
    languages: tuple[str, ...]
    referee_name: str
    referee_email: str
    statement: str

    def validated(self) -> Application:
        """The application trimmed, codes upper/lower-cased; ``InputError`` names the field."""
        fields = {k: (v.strip() if isinstance(v, str) else v) for k, v in self.__dict__.items()}
        for key in ("name", "email", "organisation", "referee_name", "referee_email", "statement"):
            if not fields[key]:
                raise InputError(f"{key.replace('_', ' ')} is required", code="missing_field")
        for key in ("email", "referee_email"):
            if not _EMAIL.match(fields[key]) or len(fields[key]) > 320:
                raise InputError(f"{key.replace('_', ' ')} is not an e-mail address", code="bad_email")
        if fields["email"].lower() == fields["referee_email"].lower():
            raise InputError("the referee must be someone else", code="bad_referee")
        if fields["profession"] not in PROFESSIONS:
            raise InputError(f"profession must be one of {', '.join(PROFESSIONS)}", code="bad_profession")
        fields["country"] = fields["country"].upper()
        if fields["country"] not in _EN.territories or not fields["country"].isalpha():
            raise InputError("country must be an ISO 3166 two-letter code", code="bad_country")
        languages = tuple(dict.fromkeys(code.strip().lower() for code in fields["languages"] if code.strip()))
        if not languages or any(code not in _EN.languages for code in languages):
            raise InputError("languages must be ISO 639 codes (for example en, fr)", code="bad_language")
        fields["languages"] = languages
        fields["email"] = fields["email"].lower()
        if len(fields["statement"]) > 5000:
            raise InputError("statement is longer than 5,000 characters", code="too_long")
        return Application(**fields)  # type: ignore[arg-type]


def apply(db: Session, application: Application, *, user_id: int | None = None) -> Member:
    """File an application; it waits for a moderator. The e-mail address must not be in use."""
    app = application.validated()
    if db.scalar(select(Member.id).where(Member.email == app.email)) is not None:
        raise ConflictError("an application with this e-mail address exists already", code="email_taken")
    member = Member(
        status="applied",
        user_id=user_id,
        name=app.name,
        email=app.email,
        organisation=app.organisation,
        profession=app.profession,
        country=app.country,
        languages=list(app.languages),
        referee_name=app.referee_name,
        referee_email=app.referee_email,
        statement=app.statement,
        decision_note="",
    )
    db.add(member)
    db.flush()
    return member


def get(db: Session, member_id: int) -> Member:
    return fetch(db, Member, member_id, "member")


def by_user(db: Session, user_id: int) -> Member | None:
    return db.scalar(select(Member).where(Member.user_id == user_id))


def by_email(db: Session, email: str) -> Member | None:
    return db.scalar(select(Member).where(Member.email == email.strip().lower()))


def queue(db: Session, status: str = "applied") -> list[Member]:
    """Members in one state, oldest first (the vetting queue by default)."""
    return list(db.scalars(select(Member).where(Member.status == status).order_by(Member.id)))


def counts(db: Session) -> dict[str, int]:
    rows = db.execute(select(Member.status, func.count()).group_by(Member.status)).all()
    return {str(status): int(n) for status, n in rows}


_MODERATION = {
    # action: (allowed from, to, audit event)
    "approve": (("applied", "more_info"), "approved", "member.approve"),
    "reject": (("applied", "more_info"), "rejected", "member.reject"),
    "ask_more": (("applied",), "more_info", "member.ask_more"),
    "suspend": (("approved",), "suspended", "member.suspend"),
    "reinstate": (("suspended",), "approved", "member.reinstate"),
}

_MESSAGES = {
    "approved": ("Welcome to the recovery network", "Your application was approved. You can now log in."),
    "rejected": ("Your application to the recovery network", "Your application was not approved."),
    "more_info": ("Your application: more information needed", "A moderator asks for more information."),
    "suspended": ("Your recovery network account is suspended", "Your account was suspended."),
    "approved_again": ("Your recovery network account is active again", "Your account was reinstated."),
}


def moderate(
    db: Session,
    actor: Actor,
    member_id: int,
    action: str,
    note: str = "",
    *,
    notifier: Notifier | None = None,
) -> Member:
    """Apply a vetting or suspension decision; recorded in the audit log and e-mailed to the member."""
    actor.require(*MODERATORS)
    if action not in _MODERATION:
        raise InputError(f"unknown action {action!r}", code="bad_action")
    allowed, new_status, event = _MODERATION[action]
    member = get(db, member_id)
    if member.status not in allowed:
        raise ConflictError(
            f"member {member_id} is {member.status}; cannot {action.replace('_', ' ')}", code="wrong_state"
        )
    if member.id == actor.member_id:
        raise ConflictError("moderators cannot decide on their own account", code="own_account")
    old = member.status
    member.status = new_status
    member.decision_note = note.strip()
    member.decided_at = utcnow()
    audit.record(
        db, event, actor, f"member:{member.id}", {"from": old, "to": new_status, "note": note.strip()}
    )
    if notifier is not None and member.email:  # decisions about one's own account are always sent
        subject, body = _MESSAGES["approved_again" if action == "reinstate" else new_status]
        if note.strip():
            body += f"\n\nNote from the moderator:\n{note.strip()}"
        notifier.send(member.email, subject, body)
    return member


def resubmit(db: Session, member_id: int, statement: str) -> Member:
    """An applicant asked for more answers: the new statement sends the application back to the queue."""
    member = get(db, member_id)
    if member.status != "more_info":
        raise ConflictError(
            "only an application that was asked for more information can be resubmitted", code="wrong_state"
        )
    if not statement.strip():
        raise InputError("statement is required", code="missing_field")
    member.statement = statement.strip()[:5000]
    member.status = "applied"
    return member


def export_data(db: Session, member_id: int) -> dict[str, Any]:
    """Everything the portal holds about and by one member, as JSON-ready data (the right of access)."""
    member = get(db, member_id)

    def rows(model: Any, column: Any) -> list[dict[str, Any]]:
        out = []
        for row in db.scalars(select(model).where(column == member_id).order_by(model.id)):
            out.append(
                {
                    c.name: _plain(getattr(row, c.key))
                    for c in model.__table__.columns
                    if c.name not in ("file_bytes",)
                }
            )
        return out

    cases = list(db.scalars(select(AssessedCase).where(AssessedCase.owner_id == member_id)))
    return {
        "member": {c.name: _plain(getattr(member, c.key)) for c in Member.__table__.columns},
        "case_studies": rows(CaseStudy, CaseStudy.author_id),
        "comments": rows(Comment, Comment.author_id),
        "posts": rows(Post, Post.author_id),
        "topics": rows(Topic, Topic.created_by),
        "resources": rows(Resource, Resource.created_by),
        "survey_responses": rows(SurveyResponse, SurveyResponse.member_id),
        "assessed_cases": [
            {"code": c.code, "instrument": c.instrument_key, "age_band": c.age_band} for c in cases
        ],
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def leave(db: Session, member_id: int) -> int | None:
    """Erase a leaving member's personal data; returns their ``user_id`` so the shell deletes the login.

    Kept, without any link to them: published case studies (de-identified shared knowledge), resources,
    survey answers (only country and profession stay with them). Deleted: their drafts and unpublished
    case studies, comments, posts, subscriptions and their anonymised assessment cases.
    """
    member = get(db, member_id)
    if member.status == "left":
        raise ConflictError("this member has left already", code="wrong_state")
    user_id = member.user_id
    db.execute(delete(CaseStudy).where(CaseStudy.author_id == member_id, CaseStudy.status != "published"))
    db.execute(update(CaseStudy).where(CaseStudy.author_id == member_id).values(author_id=None))
    db.execute(delete(Comment).where(Comment.author_id == member_id))
    db.execute(delete(Post).where(Post.author_id == member_id))
    db.execute(delete(Subscription).where(Subscription.member_id == member_id))
    db.execute(delete(AssessedCase).where(AssessedCase.owner_id == member_id))
    db.execute(update(SurveyResponse).where(SurveyResponse.member_id == member_id).values(member_id=None))
    for model in (Topic, Resource, ResourceVersion, Instrument):
        db.execute(update(model).where(model.created_by == member_id).values(created_by=None))
    member.status = "left"
    member.user_id = None
    member.name = ""
    member.email = None
    member.organisation = ""
    member.referee_name = ""
    member.referee_email = ""
    member.statement = ""
    member.decision_note = ""
    member.languages = []
    member.left_at = utcnow()
    audit.record(db, "member.leave", f"member:{member_id}", f"member:{member_id}", {})
    return user_id
