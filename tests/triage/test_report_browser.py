"""The HTML report renders in a real headless browser (skipped when chromium is not installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from seizure_builder import Seizure

from haven.banks import BankStore
from haven.matching import Matcher
from haven.triage import TriageOptions, run_triage

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(
    seizure: Seizure,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HAVEN_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "out"
    with BankStore(seizure.bank_url) as store:
        run_triage(seizure.sources, TriageOptions(out=out), Matcher(store, auto_refresh=None))
    report = out / "report.html"
    shot = tmp_path / "report.png"
    common = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*common, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Priority list" in dom.stdout and "SERIES-NEAR" in dom.stdout
    done = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 1600)
        colours = im.convert("L").getextrema()
        assert colours[0] < 100 < colours[1]  # text was drawn on the page, not a blank screen
