"""Applications, vetting, suspension and leaving, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from portal_builders import application, approved
from sqlalchemy import select

from haven.errors import ConflictError, InputError, PermissionDeniedError
from haven.portal import audit, casestudies, discussions, members, surveys
from haven.portal.models import AuditRow, CaseStudy, Member, Post, SurveyResponse
from haven.portal.notify import MemoryNotifier
from haven.portal.store import PortalStore


def test_vetting_is_recorded_and_mailed(store: PortalStore) -> None:
    mail = MemoryNotifier()
    with store.begin() as db:
        mod = approved(db, roles=("moderator",))
        applicant = members.apply(db, application(email="new@example.org"))
        members.moderate(db, mod, applicant.id, "ask_more", "Which team are you in?", notifier=mail)
        members.resubmit(db, applicant.id, "The sexual abuse team of the county.")
        members.moderate(db, mod, applicant.id, "approve", notifier=mail)
        applicant_id = applicant.id
    with store.begin() as db:
        assert members.get(db, applicant_id).status == "approved"
        events = [(e.event, e.actor) for e in audit.entries(db, target=f"member:{applicant_id}")]
    assert events == [("member.approve", mod.label), ("member.ask_more", mod.label)]
    assert [m[0] for m in mail.sent] == ["new@example.org", "new@example.org"]
    assert "Which team" in mail.sent[0][2]


def test_members_cannot_moderate_and_states_are_enforced(store: PortalStore) -> None:
    with store.begin() as db:
        member = approved(db)
        mod = approved(db, roles=("moderator",))
        applicant = members.apply(db, application())
        with pytest.raises(PermissionDeniedError):
            members.moderate(db, member, applicant.id, "approve")
        with pytest.raises(ConflictError):
            members.moderate(db, mod, applicant.id, "reinstate")
        with pytest.raises(ConflictError):
            members.moderate(db, mod, mod.member_id, "suspend")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("country", "QQ"),
        ("profession", "wizard"),
        ("languages", ("xx1",)),
        ("name", "  "),
    ],
)
def test_bad_applications_name_the_field(sqlite_store: PortalStore, field: str, value: object) -> None:
    with sqlite_store.begin() as db, pytest.raises(InputError):
        members.apply(db, application(**{field: value}))


def test_an_email_applies_once(sqlite_store: PortalStore) -> None:
    with sqlite_store.begin() as db:
        members.apply(db, application(email="once@example.org"))
        with pytest.raises(ConflictError):
            members.apply(db, application(email="ONCE@example.org"))


def test_leaving_erases_personal_data_and_unlinks_the_rest(store: PortalStore) -> None:
    with store.begin() as db:
        mod = approved(db, roles=("moderator",))
        leaver = approved(db, name="Lee Leaver", email="lee@example.org", organisation="Leaver Org")
        published = casestudies.create(
            db,
            leaver,
            title="Shared",
            country="GB",
            language="en",
            sections={"context": "Professional prose only."},
        )
        casestudies.submit(db, leaver, published.id)
        casestudies.moderate(db, mod, published.id, "approve")
        draft = casestudies.create(
            db, leaver, title="Draft", country="GB", language="en", sections={"context": "Unfinished."}
        )
        topic = discussions.create_topic(db, leaver, "A question", "My own words.")
        survey = surveys.create(
            db,
            mod,
            key="s1",
            kind="practice",
            title={"en": "S"},
            questions=[
                {
                    "key": "q",
                    "type": "single",
                    "text": {"en": "Q?"},
                    "options": [{"key": "a", "text": {"en": "A"}}, {"key": "b", "text": {"en": "B"}}],
                }
            ],
        )
        rnd = surveys.open_round(db, mod, survey.id, "2025")
        surveys.respond(db, leaver, rnd.id, {"q": "a"})
        exported = members.export_data(db, leaver.member_id)
        assert exported["member"]["email"] == "lee@example.org" and len(exported["case_studies"]) == 2
        members.leave(db, leaver.member_id)
        ids = (published.id, draft.id, topic.id)
    with store.begin() as db:
        m = db.get(Member, leaver.member_id)
        assert m is not None and m.status == "left"
        assert (m.name, m.email, m.organisation, m.referee_name, m.referee_email, m.statement) == (
            "",
            None,
            "",
            "",
            "",
            "",
        )
        kept = db.get(CaseStudy, ids[0])
        assert kept is not None and kept.author_id is None  # shared knowledge stays, unlinked
        assert db.get(CaseStudy, ids[1]) is None
        assert db.scalars(select(Post).where(Post.author_id == leaver.member_id)).all() == []
        assert db.scalars(select(SurveyResponse)).one().member_id is None
        everything = " ".join(
            str(v) for row in db.execute(select(Member)).all() for v in row[0].__dict__.values()
        )
        assert "Lee Leaver" not in everything and "lee@example.org" not in everything
        assert db.scalars(select(AuditRow).where(AuditRow.event == "member.leave")).one()
