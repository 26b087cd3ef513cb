"""The recovery network in headless chromium (Playwright driving /usr/bin/chromium; skipped without it).

1. apply → a moderator approves → the new member signs in, turns on TOTP, signs in again with a code →
   writes a case study that the de-identification check stops → fixes it → a moderator publishes it →
   another member finds it by search;
2. a survey round whose per-country chart hides a 3-respondent country, and the numbers on the page do not
   allow its count to be worked out from the totals (checked with a linear program over what is shown).

With ``HAVEN_DOCS_IMG=docs/img`` the pages are saved as the screenshots in the docs.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from portal_live import PASSWORD, LivePortal

from haven.auth.totp import TotpParams
from haven.portal import surveys

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)"),
]
NEW_MEMBER = "nadia.therapist@example.org"
SECTIONS = {
    "context": "Amira Okafor, aged 12, was groomed through a game and pressured into sending images.",
    "needs": "Safety at home, help with shame, and a predictable plan at school.",
    "interventions": "Weekly trauma-focused therapy; a safety plan made with the child; help for parents.",
    "outcomes": "By month six the child slept better and returned to lessons full time.",
    "lessons": "Agree one lead professional early and explain what happens to the images.",
}


def _browser():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api")
    return sync_api.sync_playwright()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = os.environ.get("HAVEN_DOCS_IMG")
    if folder:
        page.screenshot(path=str(Path(folder) / f"portal-{name}.png"), full_page=True)


_LAST_STEP: dict[bytes, int] = {}


def _fresh_code(secret: bytes) -> str:
    """A code for a time step this secret has not used yet (a used step is refused as a replay); waits for
    the clock when the next step would be beyond the one step of drift the server allows."""
    step = max(int(time.time()) // 30, _LAST_STEP.get(secret, -1) + 1)
    while step > int(time.time()) // 30 + 1:
        time.sleep(1)
    _LAST_STEP[secret] = step
    return TotpParams().code(secret, step * 30 + 1)


def _sign_in(page, url: str, email: str, password: str = PASSWORD, secret: bytes | None = None) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/portal/login")
    page.fill("#username", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    if secret is not None:
        assert page.url == f"{url}/portal/login/totp"
        page.fill("#code", _fresh_code(secret))
        page.click("main button[type=submit]")
    assert page.url == f"{url}/portal/home", page.url


def _sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.click("header form button")


def test_apply_vet_totp_case_study_moderation_search(portal: LivePortal) -> None:
    url = portal.url
    _, mod_secret = portal.person("moderator.browser@example.org", "approved", "moderator")
    portal.person("reader@example.org")
    with _browser() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 800})

        # 1. the public sees the landing page and the application form only
        page.goto(f"{url}/portal")
        _shot(page, "landing")
        page.goto(f"{url}/portal/library")
        assert page.url == f"{url}/portal/login"
        page.goto(f"{url}/portal/apply")
        for field, value in {
            "#name": "Nadia Therapist",
            "#email": NEW_MEMBER,
            "#organisation": "Child Recovery NGO",
            "#country": "KE",
            "#languages": "en, sw",
            "#referee_name": "Dr Referee",
            "#referee_email": "referee.nadia@example.org",
            "#statement": "Therapist for children harmed online, eight years.",
            "#password": "a long passphrase for nadia",
            "#repeat": "a long passphrase for nadia",
        }.items():
            page.fill(field, value)
        page.select_option("#profession", "therapist")
        _shot(page, "apply")
        page.click("main button[type=submit]")
        assert "application was received" in page.inner_text("main")
        page.goto(f"{url}/portal/login")  # not yet vetted: the login is disabled
        page.fill("#username", NEW_MEMBER)
        page.fill("#password", "a long passphrase for nadia")
        page.click("main button[type=submit]")
        assert "disabled" in page.inner_text("main")

        # 2. a moderator (TOTP) approves the application
        _sign_in(page, url, "moderator.browser@example.org", secret=mod_secret)
        page.goto(f"{url}/portal/moderate")
        application = page.locator(".application", has_text="Nadia Therapist")
        _shot(page, "moderation")
        application.locator("button[value=approve]").click()
        assert page.locator(".application", has_text="Nadia Therapist").count() == 0
        assert any(to == NEW_MEMBER and "Welcome" in subject for to, subject, _ in portal.mail.sent)
        _sign_out(page)

        # 3. the new member signs in, turns on TOTP, and signs in again with a code
        _sign_in(page, url, NEW_MEMBER, "a long passphrase for nadia")
        page.goto(f"{url}/portal/account/totp")
        secret_text = page.inner_text("#totp-secret")
        secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
        page.fill("#code", _fresh_code(secret))
        page.click("main form button[type=submit]")
        assert "every sign-in asks for a code" in page.inner_text("main")
        _sign_out(page)
        _sign_in(page, url, NEW_MEMBER, "a long passphrase for nadia", secret=secret)

        # 4. a case study the de-identification check stops, then fixed and justified
        page.goto(f"{url}/portal/cases/new")
        page.fill("#title", "Recovery after grooming through an online game")
        page.fill("#country", "KE")
        for section, text in SECTIONS.items():
            page.fill(f"#{section}", text)
        page.click("main form button[type=submit]")
        page.click("#submit-case")
        assert page.locator("#deid-stop").is_visible()
        flagged = {
            (row.get_attribute("data-kind"), row.locator("mark").inner_text())
            for row in page.locator("tr.finding").all()
        }
        assert ("name", "Amira Okafor") in flagged and ("age", "aged 12") in flagged
        assert page.locator("#preview-context mark.flag").count() == 2
        _shot(page, "case-check")
        page.fill("#context", SECTIONS["context"].replace("Amira Okafor", "A girl"))
        age_row = page.locator("tr.finding[data-kind=age]")
        age_row.locator("input[name^=j_]").fill("an age, not a date of birth; needed to read the case")
        page.click("#submit-case")
        assert page.url.endswith("/portal/cases/" + page.url.rsplit("/", 1)[-1])
        assert "waiting for moderation" in page.inner_text("main")
        _sign_out(page)

        # 5. the moderator publishes it (the justification is shown to them)
        _sign_in(page, url, "moderator.browser@example.org", secret=mod_secret)
        page.goto(f"{url}/portal/moderate")
        pending = page.locator(".pending-case", has_text="Recovery after grooming")
        assert "an age, not a date of birth" in pending.inner_text()
        pending.locator("button[value=approve]").click()
        page.goto(f"{url}/portal/moderate/audit")
        audit = page.inner_text("#audit")
        assert "case_study.approve" in audit and "member.approve" in audit
        _sign_out(page)

        # 6. another member finds it by search
        _sign_in(page, url, "reader@example.org")
        page.fill("header .search input", "grooming game")
        page.press("header .search input", "Enter")
        hit = page.locator("ol.hits a", has_text="Recovery after grooming through an online game")
        assert hit.count() == 1
        _shot(page, "search")
        hit.click()
        assert "A girl, aged 12" in page.inner_text("main") and "Amira" not in page.content()
        _shot(page, "case")
        browser.close()


def _round_with_small_country(portal: LivePortal) -> int:
    mod, _ = portal.person("survey.mod@example.org", "approved", "moderator")
    with portal.store.begin() as db:
        survey = surveys.create(
            db,
            mod,
            key="browser_tna",
            kind="training_needs",
            title={"en": "Training needs", "fr": "Besoins de formation"},
            questions=[
                {
                    "key": "trained",
                    "type": "single",
                    "text": {
                        "en": "Trained to assess online risk?",
                        "fr": "Formé(e) à évaluer les risques en ligne ?",
                    },
                    "options": [
                        {"key": "yes", "text": {"en": "Yes", "fr": "Oui"}},
                        {"key": "no", "text": {"en": "No", "fr": "Non"}},
                    ],
                }
            ],
        )
        rnd = surveys.open_round(db, mod, survey.id, "browser round").id
    plan = (
        [("GB", "yes")] * 6
        + [("GB", "no")] * 7
        + [("KE", "yes")] * 5
        + [("KE", "no")] * 6
        + [("FR", "no")] * 2
        + [("FR", "yes")]
    )
    for i, (country, answer) in enumerate(plan):
        member, _ = portal.person(f"respondent{i}@example.org", country=country)
        with portal.store.begin() as db:
            surveys.respond(db, member, rnd, {"trained": answer})
    return rnd


def test_survey_chart_hides_a_three_respondent_country(portal: LivePortal) -> None:
    from scipy.optimize import linprog

    rnd = _round_with_small_country(portal)
    portal.person("viewer@example.org")
    with _browser() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        _sign_in(page, portal.url, "viewer@example.org")
        page.goto(f"{portal.url}/portal/surveys/rounds/{rnd}/results?by=country")
        _shot(page, "survey-results")
        result = page.locator("#q-trained")
        fr_cells = [c.inner_text() for c in result.locator("tr[data-group=FR] td").all()]
        assert fr_cells == ["<5", "<5", "<5"]  # yes, no, total of the 3 French respondents
        chart = result.locator("figure.chart svg")
        assert chart.locator("rect.hidden-cell").count() >= 2
        assert "FR, Yes: hidden" in chart.inner_html() and "FR, No: hidden" in chart.inner_html()
        # What the page shows, as a reader would take it down: numbers, or None where hidden.
        rows = {}
        for tr in result.locator("tbody tr").all():
            group = tr.get_attribute("data-group") or "ALL"
            rows[group] = [
                None if not t.strip().isdigit() else int(t)
                for t in (c.inner_text() for c in tr.locator("td").all())
            ]
        page.goto(f"{portal.url}/portal/language/fr?next=/portal/surveys/rounds/{rnd}/results")
        assert "Regroupé par" in page.inner_text("main") and "Formé(e)" in page.inner_text("main")
        _shot(page, "survey-results-fr")
        browser.close()
    lo, hi = _feasible(rows, "FR", 0, linprog)
    assert hi - lo >= 1, f"the French 'yes' count is pinned to {lo}..{hi} by the shown numbers"


def _feasible(rows: dict[str, list[int | None]], group: str, col: int, linprog) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Range of one hidden count over all non-negative tables agreeing with the shown numbers and totals."""
    groups = [g for g in rows if g != "ALL"]
    ncol = len(rows["ALL"]) - 1
    names = [(g, j) for g in [*groups, "ALL"] for j in range(ncol + 1)]
    index = {n: i for i, n in enumerate(names)}
    eq, rhs = [], []

    def add(coeffs: dict[tuple[str, int], float], value: float) -> None:
        row = np.zeros(len(names))
        for k, v in coeffs.items():
            row[index[k]] = v
        eq.append(row)
        rhs.append(value)

    for g in [*groups, "ALL"]:
        add({(g, ncol): 1, **{(g, j): -1 for j in range(ncol)}}, 0)
    for j in range(ncol + 1):
        add({("ALL", j): 1, **{(g, j): -1 for g in groups}}, 0)
    for g, j in index:
        shown = rows[g][j]
        if shown is not None:
            add({(g, j): 1}, shown)
    c = np.zeros(len(names))
    c[index[(group, col)]] = 1
    lo = linprog(c, A_eq=np.array(eq), b_eq=np.array(rhs), bounds=[(0, None)] * len(names), method="highs")
    hi = linprog(-c, A_eq=np.array(eq), b_eq=np.array(rhs), bounds=[(0, None)] * len(names), method="highs")
    assert lo.status == 0
    return float(lo.fun), (float("inf") if hi.status == 3 else float(-hi.fun))
