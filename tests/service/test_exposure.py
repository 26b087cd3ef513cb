"""What responses must not give away or allow: server temp paths in import errors, a CDN behind /docs,
framing of HTML pages, the worker's process id. Against a live server on loopback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from service_live import ServeProcess, live, serve_process, wait_ready


def test_import_errors_name_the_upload_not_a_server_path(live) -> None:  # type: ignore[no-untyped-def]
    temp = tempfile.gettempdir()
    with live.client(live.writer) as c:
        assert c.post("/v1/banks", json={"name": "imports"}).status_code == 201
        bad = "signal,value\nmd5,not-hex\npdq,short\n"
        r = c.post("/v1/banks/imports/import", files={"file": ("partner-list.csv", bad.encode(), "text/csv")},
                   data={"format": "csv"})
        assert r.status_code == 200, r.text
        assert r.json()["errors"] == 2 and r.json()["path"] == "partner-list.csv"
        assert all(m.startswith("partner-list.csv:") for m in r.json()["messages"]), r.json()["messages"]
        unknown = c.post("/v1/banks/imports/import",
                         files={"file": ("mystery.txt", b"what is this\n", "text/plain")})
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["message"].startswith("mystery.txt:"), unknown.text
        shown = c.get("/v1/banks/imports").text
        for text in (r.text, unknown.text, shown):
            assert temp not in text and "haven-import-" not in text, text


def test_docs_are_served_locally(live) -> None:  # type: ignore[no-untyped-def]
    with live.client() as c:
        page = c.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from another host
        for u in urls:
            asset = c.get(u)
            assert asset.status_code == 200 and len(asset.content) > 100, u
        assert "cdn" not in page.text.lower()


def test_html_pages_may_not_be_framed(live) -> None:  # type: ignore[no-untyped-def]
    with live.client() as c:
        for path in ("/ui/login", "/docs"):
            r = c.get(path)
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["x-frame-options"] == "DENY", path
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, csp
            assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        error_page = c.post("/ui/login", data={"username": "x", "password": "y"})  # no CSRF token
        assert error_page.status_code == 403 and error_page.headers["content-type"].startswith("text/html")
        assert error_page.headers["x-frame-options"] == "DENY"
        api = c.get("/healthz")
        assert api.headers["x-content-type-options"] == "nosniff" and "x-frame-options" not in api.headers


def test_responses_do_not_name_the_worker_pid(tmp_path: Path) -> None:
    with serve_process(tmp_path / "data") as svc, svc.client() as c:
        r = c.get("/healthz")
    assert r.headers["x-haven-worker"] != str(svc.pid)
    assert str(svc.pid) not in str(r.headers) and "server" not in r.headers


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)")
def test_docs_render_in_a_browser_under_their_csp(live,  # type: ignore[no-untyped-def]
                                                  tmp_path: Path) -> None:
    """Swagger UI draws the operations from /openapi.json with only this server's assets and its CSP."""
    wait_ready(live.url)
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000",
                           "--dump-dom", f"{live.url}/docs"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "no_proxy": "127.0.0.1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "/v1/match/hashes" in done.stdout and "opblock" in done.stdout, done.stdout[-2000:]
