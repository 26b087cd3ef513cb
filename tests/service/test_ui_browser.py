"""The web UI renders in headless chromium (skipped without chromium): a logged-in page fetched from
the live server is rendered with the server's own stylesheet and screenshotted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from PIL import Image
from service_live import PHOTOS, live, wait_ready  # noqa: F401

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
    with httpx.Client(base_url=live.url, timeout=30) as c:
        assert c.post("/ui/login", data={"api_key": live.admin}).status_code == 303
        page = ""
        for _ in range(40):
            page = c.post("/ui/match", files={"file": (photo.name, photo.read_bytes(), "image/jpeg")}).text
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
