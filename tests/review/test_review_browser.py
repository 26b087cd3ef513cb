"""The review console in headless chromium (Playwright driving /usr/bin/chromium; skipped without it).

A reviewer signs in with TOTP, takes the next item, and every image response the page loaded is checked: a
JPEG that is not the original's bytes, grayscale, and blurred (its high-frequency energy a small fraction of
the original's at the same size). They reveal with a reason, confirm with a classification, and see the
report draft and the audit entries. A second reviewer never receives the leased item; the daily cap stops
the queue. A lead sees the team's exposure and the dashboard.

With ``HAVEN_DOCS_IMG=docs/img`` the pages are saved as the screenshots in the docs.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from review_helpers import blur_ratio, is_grayscale
from review_live import PASSWORD, PHOTOS, bank, fresh_code, review_live, upload_matches
from service_live import LiveService

from haven.auth.actor import Actor

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)"),
]
ADMIN = Actor(kind="user", id=0, name="setup", realm="staff", roles=("admin",))


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = os.environ.get("HAVEN_DOCS_IMG")
    if folder:
        page.screenshot(path=str(Path(folder) / f"review-{name}.png"), full_page=True)


def _sign_in(page, url: str, name: str, secret: bytes | None) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/review/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    if secret is not None:
        assert page.url == f"{url}/review/login/totp", page.url
        page.fill("#code", fresh_code(secret))
        page.click("main button[type=submit]")
    assert page.url == f"{url}/review", page.url


def test_review_with_blurred_previews_reveal_confirm_lease_and_cap(review_live: LiveService) -> None:
    svc = review_live
    url = svc.url
    originals = {hashlib.sha256(p.read_bytes()).hexdigest(): p.read_bytes() for p in PHOTOS[10:14]}
    bank(svc, "ncmec", PHOTOS[10:14], "A1")
    upload_matches(svc, PHOTOS[10:14], want=4)
    ana_secret = svc.user("ana", "reviewer", totp=True)  # a reviewer who chose two-step sign-in
    svc.user("ben", "reviewer")
    lead_secret = svc.user("lea", "lead", totp=True)
    review = svc.app.state.review  # type: ignore[attr-defined]
    reviews = svc.app.state.haven.runtime.reviews  # type: ignore[attr-defined]
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        ana = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        images: list[tuple[str, str, bytes]] = []
        ana.on(
            "response",
            lambda r: (
                images.append((r.url, r.headers.get("content-type", ""), r.body()))
                if r.request.resource_type == "image"
                else None
            ),
        )

        # 1. sign in with TOTP, take the next item
        _sign_in(ana, url, "ana", ana_secret)
        _shot(ana, "queue")
        ana.click("#take-next")
        assert "/review/items/" in ana.url
        item = int(ana.url.rsplit("/", 1)[1])
        ana.wait_for_load_state("networkidle")
        sha = reviews.get(item).sha256
        original = Image.open(io.BytesIO(originals[sha]))
        assert images, "the item page loaded no image"
        for img_url, ctype, body in images:
            assert "/preview" in img_url and ctype == "image/jpeg"
            assert body != originals[sha] and hashlib.sha256(body).hexdigest() not in originals
            shown = Image.open(io.BytesIO(body))
            assert is_grayscale(shown), img_url
            ratio = blur_ratio(shown, original)
            assert ratio < 0.05, (img_url, ratio)  # measured: ~0.01 at the default strength
        _shot(ana, "item")

        # 2. a second reviewer never receives the leased item
        ben = browser.new_context().new_page()
        _sign_in(ben, url, "ben", None)
        ben.click("#take-next")
        assert ben.url != f"{url}/review/items/{item}"
        ben_item = int(ben.url.rsplit("/", 1)[1])
        assert ben_item != item and reviews.get(item).lease_owner.endswith(":ana")
        assert ben.goto(f"{url}/review/items/{item}/preview").status == 409

        # 3. reveal with a reason (keyboard: r focuses the reason), then the original comes
        images.clear()
        ana.keyboard.press("r")
        ana.keyboard.type("preview too blurred to tell the category")
        ana.click("#reveal")
        ana.wait_for_load_state("networkidle")
        revealed = [b for u, _, b in images if "/original" in u]
        assert revealed and revealed[0] == originals[sha]
        reveal = [
            e
            for e in svc.app.state.haven.runtime.audit.entries(event="review.reveal")
            if e.target == f"review:{item}"
        ]  # type: ignore[attr-defined]
        assert reveal and reveal[0].detail["reason"] == "preview too blurred to tell the category"

        # 4. confirm with the keyboard (2 = A2, c = confirm): the report draft and the audit entries
        ana.keyboard.press("2")
        ana.keyboard.press("c")
        ana.wait_for_url(f"{url}/review/decided/{item}")
        text = ana.inner_text("main")
        assert "confirm (A2)" in text and "report draft" in text
        assert ana.inner_text("#report-state") == "draft"
        audit = ana.inner_text("#audit")
        for event in ("review.lease", "review.reveal", "vault.reveal", "review.confirm"):
            assert event in audit, event
        _shot(ana, "decided")

        # 5. the daily cap stops the queue
        review.configure(ADMIN, {"daily_cap": 1})
        ana.click("#take-next")
        assert ana.url == f"{url}/review?stop=cap"
        assert "today's limit" in ana.inner_text("main")
        review.configure(ADMIN, {"daily_cap": 150})

        # 6. a lead: the team's exposure (counts, never content) and the dashboard
        lea = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        _sign_in(lea, url, "lea", lead_secret)
        lea.goto(f"{url}/review/team")
        team = lea.inner_text("#team")
        assert "ana" in team and "ben" in team
        assert not lea.query_selector("main img")
        _shot(lea, "team")
        lea.goto(f"{url}/review/stats")
        assert lea.query_selector("svg.chart") is not None
        _shot(lea, "dashboard")
        browser.close()
