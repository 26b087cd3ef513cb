"""The web UI in headless chromium (skipped without chromium): a result page rendered with the server's own
stylesheet; a first sign-in driven by Playwright through the real forms (one-time password, own password,
TOTP enrolment) and a second sign-in with a TOTP code; a form posted from another port refused."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from service_live import PASSWORD, PHOTOS, live, wait_ready

from haven.hashing import hash_file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)")
def test_ui_result_page_renders(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wait_ready(live.url)
    photo = sorted(PHOTOS.glob("*.jp*g"))[2]
    with live.client(live.writer) as api:
        api.post("/v1/banks", json={"name": "browser-bank", "source": "demo"})
        api.post("/v1/banks/browser-bank/entries", json={"entries": [
            {"signal": "pdq", "value": hash_file(photo).hashes["pdq"], "category": "A"}]})
    secret = live.user("browser-lead", "lead", totp=True)
    with live.ui() as c:
        assert c.sign_in("browser-lead", totp=secret).headers["location"] == "/ui"
        token = c.token(c.get("/ui").text)
        page = ""
        for _ in range(40):
            page = c.post("/ui/match", data={"csrf_token": token},
                          files={"file": (photo.name, photo.read_bytes(), "image/jpeg")}).text
            if "browser-bank" in page:
                break
    assert "browser-bank" in page
    html = tmp_path / "result.html"
    html.write_text(page.replace("<head>", f'<head><base href="{live.url}/">', 1))
    shot = Path(os.environ.get("HAVEN_UI_SCREENSHOT", tmp_path / "ui.png"))
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp_path / 'profile'}"]
    done = subprocess.run([*common, f"--screenshot={shot}", "--window-size=1000,700", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1000, 700)
        lo, hi = im.convert("L").getextrema()
        assert lo < 100 < hi  # text drawn, not a blank page
        # The header bar is dark (#1d2329): the stylesheet was loaded from the server.
        assert sum(im.convert("RGB").getpixel((500, 10))) < 150


def _browser():  # type: ignore[no-untyped-def]
    """Playwright driving the system chromium (no browser download)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    return sync_api.sync_playwright()


def _launch(p):  # type: ignore[no-untyped-def]
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                             "--disable-dev-shm-usage"])


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)")
def test_first_sign_in_with_totp_reaches_home(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What a newcomer does after `make run`: the printed username and one-time password, a new password,
    the authenticator set-up, then the home page; then a later sign-in with a TOTP code."""
    from haven.auth.totp import TotpParams

    _, once = live.auth.add_user("staff", "boss", ["admin"], actor="test")
    shots = Path(os.environ.get("HAVEN_DOCS_IMG", tmp_path))
    new_password = "four random words here"
    with _browser() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 900, "height": 640})
        page.goto(f"{live.url}/ui")
        assert page.url == f"{live.url}/ui/login"
        page.screenshot(path=str(shots / "ui-login.png"))
        page.fill("#username", "boss")
        page.fill("#password", once)
        page.click("button[type=submit]")
        assert page.url == f"{live.url}/ui/login/password"
        page.fill("#password", new_password)
        page.fill("#repeat", new_password)
        page.click("main button[type=submit]")
        assert page.url == f"{live.url}/ui/login/enrol"
        secret_text = page.inner_text("#totp-secret")
        assert page.inner_text("#totp-uri").startswith("otpauth://totp/Haven:boss")
        assert page.eval_on_selector("img.qr", "i => i.naturalWidth") > 0  # the QR code drew
        page.screenshot(path=str(shots / "ui-totp-enrol.png"))
        secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
        page.fill("#code", TotpParams().code(secret))
        page.click("main form button[type=submit]")
        assert page.url == f"{live.url}/ui"
        assert page.inner_text("h2") == "Match an image" and "boss (admin)" in page.inner_text("header")

        page.click("header button")  # log out
        assert page.url == f"{live.url}/ui/login"
        page.goto(f"{live.url}/ui")
        assert page.url == f"{live.url}/ui/login"
        page.fill("#username", "boss")
        page.fill("#password", new_password)
        page.click("button[type=submit]")
        assert page.url == f"{live.url}/ui/login/totp"
        page.fill("#code", TotpParams().code(secret, time.time() + 30))  # the enrolment's code is spent
        page.click("main button[type=submit]")
        assert page.url == f"{live.url}/ui" and "boss (admin)" in page.inner_text("header")
        browser.close()


class _AttackPage(BaseHTTPRequestHandler):
    """A page on another port of 127.0.0.1 that posts a form to the UI as soon as it loads."""

    target = ""

    def do_GET(self) -> None:  # http.server's name
        body = (f'<form method="post" action="{self.target}/ui/hashes">'
                '<input name="bank" value="browser-xo"><input name="signal" value="md5">'
                '<input name="value" value="900150983cd24fb0d6963f7d28e17f72"></form>'
                "<script>document.forms[0].submit()</script>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)")
def test_form_from_another_port_is_refused_in_chromium(live) -> None:  # type: ignore[no-untyped-def]
    """Ports do not make sites: the SameSite=Strict cookie goes along with a post from 127.0.0.1:<other port>,
    so the Origin check and the CSRF token are what refuse it."""
    from sqlalchemy import func, select

    from haven.banks.models import EntryRow

    with live.client(live.writer) as api:
        api.post("/v1/banks", json={"name": "browser-xo"})
    secret = live.user("browser-victim", "lead", totp=True)
    _AttackPage.target = live.url

    def entries() -> int:
        with live.auth.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(EntryRow)).scalar_one())

    before = entries()
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), _AttackPage)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        from haven.auth.totp import TotpParams

        with _browser() as p:
            browser = _launch(p)
            page = browser.new_page()
            page.goto(f"{live.url}/ui/login")
            page.fill("#username", "browser-victim")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.fill("#code", TotpParams().code(secret, time.time() + 30))
            page.click("main button[type=submit]")
            assert page.url == f"{live.url}/ui"
            posted = []
            page.on("request", lambda r: posted.append(r) if r.method == "POST" else None)
            with page.expect_response(f"{live.url}/ui/hashes") as answer:
                page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
            assert answer.value.status == 403
            sent = posted[-1].all_headers()
            assert "haven_staff=" in sent.get("cookie", "")  # the browser did send the session cookie
            assert "another origin" in page.content()
            browser.close()
    finally:
        attacker.shutdown()
        attacker.server_close()
    assert entries() == before
