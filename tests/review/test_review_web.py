"""The console's pages over HTTP (a real server, the real upload → rule → review path): roles, CSRF,
lockout, session expiry and TOTP replay on /review, leases and reveals enforced per request, the dashboard's
numbers against direct counts in the database. The sign-in machinery itself is tested in tests/auth."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from review_live import PASSWORD, PHOTOS, ReviewClient, bank, fresh_code, review_live, upload_matches
from service_live import LiveService
from sqlalchemy import text

from haven.auth.actor import Actor
from haven.review.queues import add_route, save_queue

ADMIN = Actor(kind="user", id=0, name="setup", realm="staff", roles=("admin",))

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def svc(review_live: LiveService) -> LiveService:
    review = review_live.app.state.review  # type: ignore[attr-defined]
    with review.begin() as s:
        save_queue(s, "partner", roles=["lead"], users=["rita"], now=datetime.now(UTC))
        add_route(s, "partner", {"bank": "partner"})
    bank(review_live, "ncmec", PHOTOS[:4], "A1")
    bank(review_live, "partner", PHOTOS[4:6], "B2")
    upload_matches(review_live, PHOTOS[:6], want=6)
    for name, roles, totp in (
        ("rita", ["reviewer"], False),
        ("rob", ["reviewer"], False),
        ("lena", ["lead"], True),
        ("adam", ["admin"], True),
    ):
        secret = review_live.user(name, *roles, totp=totp)
        review_live.secrets = getattr(review_live, "secrets", {})  # type: ignore[attr-defined]
        review_live.secrets[name] = secret  # type: ignore[attr-defined]
    return review_live


@contextmanager
def client(svc: LiveService, name: str) -> Iterator[ReviewClient]:
    with ReviewClient(svc.url) as c:
        r = c.sign_in(name, totp=svc.secrets.get(name))  # type: ignore[attr-defined]
        assert r.status_code == 303 and r.headers["location"] == "/review", (r.status_code, r.text[:300])
        yield c


def test_routing_sent_partner_matches_to_their_queue(svc: LiveService) -> None:
    items = svc.app.state.haven.runtime.reviews.items()  # type: ignore[attr-defined]
    by_queue = Counter(t.queue for t in items)
    assert by_queue == {"default": 4, "partner": 2}


def test_reviewer_cannot_reach_admin_pages_or_other_queues(svc: LiveService) -> None:
    with client(svc, "rob") as rob:
        for path in (
            "/review/admin",
            "/review/stats",
            "/review/stats.csv",
            "/review/team",
            "/review/metrics",
        ):
            assert rob.get(path).status_code == 403, path
        home = rob.get("/review").text
        assert "partner" not in home and "escalations" not in home
        r = rob.submit("/review", "/review/next", {"queue": "partner"})
        assert r.status_code == 403
        r = rob.submit("/review", "/review/next", {"queue": "escalations"})
        assert r.status_code == 403
        r = rob.submit("/review", "/review/admin/settings", {"daily_cap": "1"})
        assert r.status_code == 403


def test_csrf_refused(svc: LiveService) -> None:
    with client(svc, "rob") as rob:
        assert rob.post("/review/next", data={}).status_code == 403  # no token
        token = rob.token(rob.get("/review").text)
        other = rob.post(
            "/review/next", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
        assert other.status_code == 403
        assert rob.post("/review/break", data={"csrf_token": "x" * 43}).status_code == 403


def test_lockout_on_the_review_sign_in(svc: LiveService) -> None:
    svc.user("locky", "reviewer")
    with ReviewClient(svc.url) as c:
        for _ in range(5):
            assert c.sign_in("locky", "wrong password, wrong").status_code == 401
        r = c.sign_in("locky")  # the right password, but the account is locked
        assert r.status_code == 429


def test_session_expiry_sends_back_to_sign_in(svc: LiveService) -> None:
    with client(svc, "rob") as rob:
        assert rob.get("/review").status_code == 200
        with svc.auth.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE auth_sessions SET expires_at = :t WHERE ended_at IS NULL AND user_id = "
                    "(SELECT id FROM auth_users WHERE username = 'rob')"
                ),
                {"t": datetime.now(UTC) - timedelta(seconds=1)},
            )
        r = rob.get("/review")
        assert r.status_code == 303 and r.headers["location"] == "/review/login"


def test_totp_required_for_leads_and_replay_refused(svc: LiveService) -> None:
    secret = svc.secrets["lena"]  # type: ignore[attr-defined]
    with ReviewClient(svc.url) as c, ReviewClient(svc.url) as again:
        r = c.submit("/review/login", "/review/login", {"username": "lena", "password": PASSWORD})
        assert r.headers["location"] == "/review/login/totp"  # a lead cannot skip the second factor
        assert c.get("/review/team").status_code == 303
        code = fresh_code(secret)
        assert c.submit("/review/login/totp", "/review/login/totp", {"code": code}).status_code == 303
        assert c.get("/review/team").status_code == 200
        again.submit("/review/login", "/review/login", {"username": "lena", "password": PASSWORD})
        r = again.submit("/review/login/totp", "/review/login/totp", {"code": code})
        assert r.status_code == 401 and "already used" in r.text


def test_leases_and_reveals_are_enforced_per_request(svc: LiveService) -> None:
    with client(svc, "rob") as rob, client(svc, "rita") as rita:
        r = rob.submit("/review", "/review/next", {})
        item = int(r.headers["location"].rsplit("/", 1)[1])
        assert rob.get(f"/review/items/{item}/preview").headers["content-type"] == "image/jpeg"
        assert rob.get(f"/review/items/{item}/original").status_code == 403  # not revealed
        for path in ("", "/preview", "/original"):
            assert rita.get(f"/review/items/{item}{path}").status_code == 409  # rob holds it
        got = rita.submit("/review", "/review/next", {"queue": "default"})
        hers = int(got.headers["location"].rsplit("/", 1)[1])
        assert hers != item
        assert (
            rita.submit(
                f"/review/items/{hers}", f"/review/items/{hers}/decide", {"decision": "skip"}
            ).status_code
            == 303
        )
        r = rob.submit(f"/review/items/{item}", f"/review/items/{item}/reveal", {"reason": "hm"})
        assert r.status_code == 400  # a reason of a few words
        rob.submit(f"/review/items/{item}", f"/review/items/{item}/reveal", {"reason": "need the detail"})
        original = rob.get(f"/review/items/{item}/original")
        assert original.status_code == 200 and original.headers["cache-control"] == "no-store"
        sha = svc.app.state.haven.runtime.reviews.get(item).sha256  # type: ignore[attr-defined]
        import hashlib

        assert hashlib.sha256(original.content).hexdigest() == sha
        r = rob.submit(f"/review/items/{item}", f"/review/items/{item}/decide", {"decision": "skip"})
        assert r.status_code == 303
        assert rob.get(f"/review/items/{item}/original").status_code == 409  # no lease, no content


def test_dashboard_numbers_equal_direct_counts(svc: LiveService) -> None:
    with client(svc, "rita") as rita:
        for decision in ("false_positive", "confirm", "escalate"):
            r = rita.submit(
                "/review", "/review/next", {"queue": "partner" if decision == "false_positive" else "default"}
            )
            item = int(r.headers["location"].rsplit("/", 1)[1])
            data = {"decision": decision, "classification": "B1"}
            assert (
                rita.submit(f"/review/items/{item}", f"/review/items/{item}/decide", data).status_code == 303
            )
    with client(svc, "lena") as lena:
        page = lena.get("/review/stats")
        assert page.status_code == 200 and "<svg" in page.text
        rows = list(csv.DictReader(io.StringIO(lena.get("/review/stats.csv").text)))
        prom = lena.get("/review/metrics").text
    with svc.auth.engine.connect() as conn:
        decisions = dict(
            conn.execute(text("SELECT decision, COUNT(*) FROM review_decisions GROUP BY decision")).all()
        )
        pending = dict(
            conn.execute(
                text("SELECT queue, COUNT(*) FROM review_queue WHERE state = 'pending' GROUP BY queue")
            ).all()
        )
        reports = dict(
            conn.execute(
                text("SELECT state, COUNT(*) FROM reports WHERE source LIKE 'review:%' GROUP BY state")
            ).all()
        )
        items = conn.execute(text("SELECT COUNT(*) FROM review_queue")).scalar_one()
    got_decisions: Counter[str] = Counter()
    for r in rows:
        if r["metric"] == "decisions":
            got_decisions[r["label"]] += int(r["value"])
    assert dict(got_decisions) == decisions and decisions["confirm"] >= 1 and decisions["false_positive"] >= 1
    assert {r["label"]: int(r["value"]) for r in rows if r["metric"] == "queue_pending"} == pending
    assert {r["label"]: int(r["value"]) for r in rows if r["metric"] == "review_reports"} == reports
    assert sum(int(r["value"]) for r in rows if r["metric"] == "matches") == items  # one bank/category each
    fp = {r["label"]: float(r["value"]) for r in rows if r["metric"] == "false_positive_rate"}
    assert fp["partner"] == 1.0
    for d, n in decisions.items():
        assert f'haven_review_decisions{{decision="{d}"}} {n}' in prom
    with svc.client(svc.match) as c:
        assert c.get("/review/metrics").status_code == 403  # a key without the review scope
    key = svc.keys.create("prom", ["review"])[1]
    with svc.client(key) as c:
        by_key = c.get("/review/metrics").text
    for d, n in decisions.items():
        assert f'haven_review_decisions{{decision="{d}"}} {n}' in by_key


def test_manual_escalation_upload(svc: LiveService) -> None:
    data = PHOTOS[20].read_bytes()  # ~0.5 MB: above the 64 KiB a form may carry, so the gate checks sign-in
    with ReviewClient(svc.url) as anon:
        token = anon.token(anon.get("/review/login").text)
        r = anon.post(
            "/review/submit", data={"csrf_token": token}, files={"file": ("found.jpg", data, "image/jpeg")}
        )
        assert r.status_code == 401  # refused by the request gate before the body is read
    with client(svc, "rob") as rob:
        token = rob.token(rob.get("/review").text)
        r = rob.post(
            "/review/submit",
            data={"csrf_token": token, "note": "a user's report"},
            files={"file": ("found.jpg", data, "image/jpeg")},
        )
        assert r.status_code == 303, r.text
        item = int(r.headers["location"].rsplit("=", 1)[1])
    task = svc.app.state.haven.runtime.reviews.get(item)  # type: ignore[attr-defined]
    assert not task.known and task.queue == "default" and task.payload["context"]["note"] == "a user's report"


def test_admin_sets_queues_routes_and_wellness_bounds(svc: LiveService) -> None:
    review = svc.app.state.review  # type: ignore[attr-defined]
    with client(svc, "adam") as adam:
        assert adam.get("/review/admin").status_code == 200
        r = adam.submit(
            "/review/admin",
            "/review/admin/queues",
            {"name": "video", "roles": "reviewer", "description": "videos"},
        )
        assert r.status_code == 303
        r = adam.submit(
            "/review/admin", "/review/admin/routes", {"queue": "video", "when": '{"signal": "vpdq"}'}
        )
        assert r.status_code == 303
        r = adam.submit("/review/admin", "/review/admin/routes", {"queue": "video", "when": '{"colour": 1}'})
        assert r.status_code == 400 and "colour" in r.text
        r = adam.submit(
            "/review/admin",
            "/review/admin/settings",
            {
                "blur_min": "8",
                "blur_max": "20",
                "blur_default": "12",
                "daily_cap": "150",
                "break_after": "20",
                "action_quarantine": "on",
                "action_report": "on",
            },
        )
        assert r.status_code == 303
        r = adam.submit("/review/admin", "/review/admin/settings", {"blur_min": "30"})
        assert r.status_code == 400  # min above max
    cfg = review.config()
    assert (cfg.blur_min, cfg.blur_max, cfg.blur_default) == (8, 20, 12)
    assert review.route([{"bank": "x", "signal": "vpdq"}]) == "video"
    events = [e.event for e in review.audit.entries(event_prefix="review.")]
    assert {"review.queue", "review.route", "review.config"} <= set(events)
    with client(svc, "rob") as rob:
        home = rob.get("/review").text
        assert "between 8 and 20" in home and "video" in home
        r = rob.submit("/review", "/review/blur", {"blur": "6"})
        assert r.status_code == 400  # below the admin's minimum
    review.configure(ADMIN, {"blur_min": 4, "blur_max": 24, "blur_default": 10})
