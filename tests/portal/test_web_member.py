"""Member pages over real HTTP: leaving erases personal data (portal row and login), moderator actions are
recorded, the export, the French interface, and the portal under /portal of ``haven serve``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
from babel.messages.pofile import read_po
from portal_live import LivePortal
from sqlalchemy import select, text

from haven.auth.models import SessionRow, UserRow
from haven.portal import audit, casestudies, discussions
from haven.portal.models import Member

LOCALE = Path(__file__).resolve().parents[2] / "src" / "haven" / "portal" / "web" / "locale"


def test_leaving_member_data_is_gone(portal: LivePortal) -> None:
    leaver, _ = portal.person("leaving.person@example.org")
    with portal.store.begin() as db:
        discussions.create_topic(db, leaver, "Ask me", "Leaving Person's own words")
    with portal.client() as c:
        assert c.sign_in("leaving.person@example.org").status_code == 303
        exported = c.get("/portal/account/export")
        assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
        data = json.loads(exported.text)
        assert data["member"]["email"] == "leaving.person@example.org" and data["posts"]
        refused = c.submit("/portal/account", "/portal/account/leave", {"confirm": "no"})
        assert refused.status_code == 422
        r = c.submit("/portal/account", "/portal/account/leave", {"confirm": "leave"})
        assert r.status_code == 303 and r.headers["location"] == "/portal?left=1"
        assert c.get("/portal/home").headers.get("location") == "/portal/login"  # the session is gone
        assert c.sign_in("leaving.person@example.org").status_code == 401
    with portal.store.begin() as db:
        row = db.get(Member, leaver.member_id)
        assert row is not None and row.status == "left" and row.email is None and row.name == ""
        dump = " ".join(str(v) for v in db.execute(text("SELECT * FROM portal_members")).all())
        posts = " ".join(str(v) for v in db.execute(text("SELECT body FROM portal_posts")).all())
        users = db.execute(select(UserRow.username)).scalars().all()
        sessions = db.execute(select(SessionRow.user_id)).scalars().all()
        assert "leaving.person" not in dump and "Leaving Person" not in posts
        assert "leaving.person@example.org" not in users and row.user_id is None
        assert all(s is not None for s in sessions)
        assert audit.entries(db, target=f"member:{leaver.member_id}")[0].event == "portal.member.leave"


def test_moderator_actions_are_recorded(portal: LivePortal) -> None:
    author, _ = portal.person("recorded.author@example.org")
    mod, secret = portal.person("recorded.mod@example.org", "approved", "moderator")
    applicant, _ = portal.person("recorded.applicant@example.org", "applied")
    with portal.store.begin() as db:
        cs = casestudies.create(
            db, author, title="Recorded", country="GB", language="en", sections={"context": "Prose only."}
        )
        casestudies.submit(db, author, cs.id)
        topic = discussions.create_topic(db, author, "Recorded topic", "A post.")
        post_id = discussions.posts(db, topic.id)[0].id
    with portal.client() as c:
        assert c.sign_in("recorded.mod@example.org", totp=secret).status_code == 303
        for action, form in (
            (f"/portal/moderate/members/{applicant.member_id}", {"action": "ask_more", "note": "q"}),
            (f"/portal/moderate/cases/{cs.id}", {"action": "return", "note": "names"}),
            (f"/portal/moderate/posts/{post_id}/hide", {"reason": "spam", "topic_id": str(topic.id)}),
            (f"/portal/moderate/topics/{topic.id}/lock", {"locked": "1"}),
        ):
            assert c.submit("/portal/moderate", action, form).status_code == 303, action
        page = c.get("/portal/moderate/audit").text
    with portal.store.begin() as db:
        events = {(e.event, e.actor, e.target) for e in audit.entries(db)}
    label = f"member:{mod.member_id}"
    assert {
        ("portal.member.ask_more", label, f"member:{applicant.member_id}"),
        ("portal.case_study.return", label, f"case_study:{cs.id}"),
        ("portal.post.hide", label, f"post:{post_id}"),
        ("portal.topic.lock", label, f"topic:{topic.id}"),
    } <= events
    assert "portal.case_study.return" in page and "portal.post.hide" in page


def test_french_catalogue_is_complete_and_used(portal: LivePortal) -> None:
    with (LOCALE / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        fr = read_po(fh, locale="fr")
    with (LOCALE / "messages.pot").open("rb") as fh:
        template = read_po(fh)
    ids = {m.id for m in template if m.id}
    assert ids and ids <= {m.id for m in fr if m.id and m.string and not m.fuzzy}
    with httpx.Client(base_url=portal.url, headers={"Accept-Language": "fr-FR,fr;q=0.9"}) as c:
        page = c.get("/portal").text
    assert "Demander à rejoindre le réseau" in page and 'lang="fr"' in page


def test_templates_and_catalogue_agree() -> None:
    """Every text in the templates is in the committed template catalogue (run update_catalogs otherwise)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "check.pot"
        here = LOCALE.parent
        subprocess.run(
            [
                sys.executable,
                "-m",
                "babel.messages.frontend",
                "extract",
                "-F",
                str(here / "babel.cfg"),
                "-k",
                "N_",
                "--no-location",
                "--sort-output",
                "-o",
                str(out),
                str(here.parent),
            ],
            check=True,
            capture_output=True,
        )
        with out.open("rb") as fh:
            fresh = {m.id for m in read_po(fh) if m.id}
    with (LOCALE / "messages.pot").open("rb") as fh:
        committed = {m.id for m in read_po(fh) if m.id}
    assert fresh == committed, (
        f"run python -m haven.portal.web.update_catalogs: {sorted(fresh ^ committed)[:5]}"
    )


def test_portal_is_mounted_on_haven_serve(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
    from service_live import service_settings, start_service

    server, svc = start_service(service_settings(tmp_path))
    with server, httpx.Client(base_url=svc.url) as c:
        assert c.get("/portal").status_code == 200
        assert c.get("/portal/library").headers["location"] == "/portal/login"
        assert c.get("/portal/static/portal.css").status_code == 200
        assert c.get("/ui").headers["location"] == "/ui/login"  # the staff UI is still its own realm
    svc.close()
