"""Nothing behind the landing page without an approved member's session: every route of the portal is
tried as a logged-out visitor, an applicant, a suspended member (also with a login left enabled by mistake)
and a member who left; only the public pages answer."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from portal_live import LivePortal

from haven.portal import casestudies

PUBLIC = {
    ("GET", "/portal"),
    ("GET", "/portal/apply"),
    ("POST", "/portal/apply"),
    ("GET", "/portal/login"),
    ("POST", "/portal/login"),
    ("GET", "/portal/language/{code}"),
    ("GET", "/portal/login/totp"),
    ("POST", "/portal/login/totp"),
    ("GET", "/portal/login/password"),
    ("POST", "/portal/login/password"),
    ("GET", "/portal/login/enrol"),
    ("POST", "/portal/login/enrol"),
    ("POST", "/portal/logout"),
}
CANARY = "CANARY-7f3e published case study"


def routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every route the portal mounts: its own pages and the sign-in pages of its ``WebAuth``."""
    from haven.portal.web.site import router, web

    out = []
    for r in [*router.routes, *web.router.routes]:
        if isinstance(r, APIRoute) and r.path.startswith("/portal"):
            out.extend((m, r.path) for m in sorted(r.methods))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.fixture(scope="module")
def seeded(portal: LivePortal) -> LivePortal:
    author, _ = portal.person("canary-author@example.org")
    mod, _ = portal.person("canary-mod@example.org", "approved", "moderator")
    with portal.store.begin() as db:
        cs = casestudies.create(
            db,
            author,
            title=CANARY,
            country="GB",
            language="en",
            sections={"context": "Prose without identifiers."},
        )
        casestudies.submit(db, author, cs.id)
        casestudies.moderate(db, mod, cs.id, "approve")
    return portal


def test_every_portal_route_is_known(seeded: LivePortal) -> None:
    found = set(routes(seeded.app))
    assert PUBLIC <= found
    assert len(found - PUBLIC) >= 40, "the member routes were not all registered"


def _assert_nothing_shown(client, app, who: str) -> None:  # type: ignore[no-untyped-def]
    for method, path in routes(app):
        if (method, path) in PUBLIC:
            continue
        url = concrete(path)
        if method == "GET":
            r = client.get(url)
        else:  # a real form post: right origin and, where the page gave one, the right token
            token = client.cookies.get("haven_portal_login") or ""
            r = client.request(method, url, data={"csrf_token": token, "q": "x", "body": "x"})
        assert r.status_code in (303, 401, 403, 404), f"{who}: {method} {url} answered {r.status_code}"
        if r.status_code == 303:
            assert r.headers["location"] == "/portal/login", (
                f"{who}: {method} {url} -> {r.headers['location']}"
            )
        assert CANARY not in r.text, f"{who}: {method} {url} showed member content"


def test_logged_out_visitor_sees_only_public_pages(seeded: LivePortal) -> None:
    with seeded.client() as c:
        assert c.get("/portal").status_code == 200 and c.get("/portal/apply").status_code == 200
        _assert_nothing_shown(c, seeded.app, "visitor")


def test_applicant_cannot_sign_in_and_sees_nothing_even_with_a_login(seeded: LivePortal) -> None:
    seeded.person("applicant@example.org", "applied")
    with seeded.client() as c:
        r = c.sign_in("applicant@example.org")
        assert r.status_code == 401 and "disabled" in r.text
        _assert_nothing_shown(c, seeded.app, "applicant")
    # defence in depth: a login enabled by mistake still shows nothing behind the landing page
    seeded.person("applicant2@example.org", "applied", login_enabled=True)
    with seeded.client() as c:
        assert c.sign_in("applicant2@example.org").status_code == 303
        _assert_nothing_shown(c, seeded.app, "applicant with a login")


def test_suspended_member_loses_access_at_once(seeded: LivePortal) -> None:
    member, _ = seeded.person("to-suspend@example.org")
    mod, mod_secret = seeded.person("suspender@example.org", "approved", "moderator")
    with seeded.client() as m, seeded.client() as moderator:
        assert m.sign_in("to-suspend@example.org").status_code == 303
        assert CANARY in m.get("/portal/cases").text  # a member sees the published case study
        assert moderator.sign_in("suspender@example.org", totp=mod_secret).status_code == 303
        r = moderator.submit(
            "/portal/moderate",
            f"/portal/moderate/members/{member.member_id}",
            {"action": "suspend", "note": "test"},
        )
        assert r.status_code == 303
        _assert_nothing_shown(m, seeded.app, "suspended member (session ended)")
        assert m.sign_in("to-suspend@example.org").status_code == 401
    seeded.person("suspended2@example.org", "suspended", login_enabled=True)
    with seeded.client() as c:
        assert c.sign_in("suspended2@example.org").status_code == 303
        _assert_nothing_shown(c, seeded.app, "suspended member with a login")


def test_moderator_pages_need_the_moderator_role(seeded: LivePortal) -> None:
    seeded.person("plain@example.org")
    with seeded.client() as c:
        c.sign_in("plain@example.org")
        assert c.get("/portal/home").status_code == 200
        for path in ("/portal/moderate", "/portal/moderate/audit", "/portal/moderate/surveys"):
            assert c.get(path).status_code == 403, path
        assert (
            c.submit("/portal/home", "/portal/moderate/members/1", {"action": "approve"}).status_code == 403
        )
