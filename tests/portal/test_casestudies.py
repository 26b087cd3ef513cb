"""Case studies: the de-identification check stops submission until each flag is fixed or justified;
moderators
publish (indexed for search, audited); comments."""

from __future__ import annotations

import pytest
from portal_builders import approved

from haven.errors import ConflictError, PermissionDeniedError
from haven.portal import audit, casestudies, search
from haven.portal.store import PortalStore

SECTIONS = {
    "context": "Amira Okafor, aged 12, was groomed on a game.",
    "needs": "Safety at home and at school.",
    "interventions": "Weekly therapy and a safety plan.",
    "roles": "Police, school and the NGO met monthly.",
    "outcomes": "Anxiety eased by month six.",
    "lessons": "Agree one lead professional early.",
}


def test_check_stops_submission_until_fixed_or_justified(store: PortalStore) -> None:
    with store.begin() as db:
        author = approved(db)
        mod = approved(db, roles=("moderator",))
        cs = casestudies.create(
            db,
            author,
            title="Recovery after grooming on a game",
            country="GB",
            language="en",
            sections=SECTIONS,
        )
        with pytest.raises(casestudies.DeidentificationRequired) as stopped:
            casestudies.submit(db, author, cs.id)
        flagged = {(f["kind"], f["text"]) for f in stopped.value.findings}
        assert flagged == {("name", "Amira Okafor"), ("age", "aged 12")}
        # fix the name, justify the age band
        casestudies.update(
            db,
            author,
            cs.id,
            title=cs.title,
            sections={**SECTIONS, "context": "A girl, aged 12, was groomed on a game."},
        )
        age = next(f for f in casestudies.check(db, author, cs.id) if f["kind"] == "age")
        casestudies.submit(db, author, cs.id, {casestudies.finding_key(age): "an age, not a date of birth"})
        assert cs.status == "submitted"
        assert search.search(db, "grooming") == []  # not before approval
        with pytest.raises(ConflictError):
            casestudies.moderate(db, author, cs.id, "approve") if False else casestudies.update(
                db, author, cs.id, title="x", sections=SECTIONS
            )
        with pytest.raises(PermissionDeniedError):
            casestudies.moderate(db, author, cs.id, "approve")
        casestudies.moderate(db, mod, cs.id, "approve")
        assert [h.doc_id for h in search.search(db, "grooming game")] == [cs.id]
        assert audit.entries(db, target=f"case_study:{cs.id}")[0].event == "case_study.approve"
        comment = casestudies.add_comment(db, mod, cs.id, "Useful, thank you.")
        casestudies.hide_comment(db, mod, comment.id, "off topic")
        assert casestudies.comments(db, cs.id) == []


def test_unpublished_case_studies_are_hidden_from_other_members(sqlite_store: PortalStore) -> None:
    from haven.errors import NotFoundError

    with sqlite_store.begin() as db:
        author, other = approved(db), approved(db)
        cs = casestudies.create(db, author, title="Mine", country="GB", language="en", sections=SECTIONS)
        assert casestudies.visible(db, author, cs.id) is cs
        with pytest.raises(NotFoundError):
            casestudies.visible(db, other, cs.id)
