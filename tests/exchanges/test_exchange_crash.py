"""A fetch killed mid-page resumes from its checkpoint without duplicates or gaps, on SQLite and PostgreSQL.

The crashing run is a real ``haven exchange fetch`` process killed with ``os._exit`` at a ``haven.faults``
point: inside a page's transaction before it commits (the page is rolled back and fetched again), and
between a page's commit and the next page (the fetch goes on after it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from exchange_helpers import MASTER_KEY, make_setup

from haven.faults import CRASH_EXIT


def _haven(
    args: list[str], env: dict[str, str], crash: str | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = (
        [sys.executable, "-m", "haven.faults", crash, "--", "haven"]
        if crash
        else [sys.executable, "-m", "haven.cli.main"]
    )
    return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", ["exchange_page_applied:3", "exchange_page_committed:2"])
def test_killed_fetch_resumes_exactly_once(db_url: str, tmp_path: Path, point: str) -> None:
    s = make_setup(db_url, "ncmec", count=200, page_size=40)  # 5 pages
    s.clock.now = 4_000_000_000  # the subprocess reads the real clock: every mock record is in its past
    env = {
        **os.environ,
        "HAVEN_DATA_DIR": str(tmp_path / "data"),
        "HAVEN_DATABASE_URL": db_url,
        "HAVEN_MASTER_KEY": MASTER_KEY,
        "HAVEN_EXCHANGE_RETRIES": "0",
    }
    try:
        s.mock.data.ts = [1_700_000_000] * len(s.mock.data.ts)
        s.mock.data.version += 1
        crashed = _haven(["exchange", "fetch", s.name], env, crash=point)
        assert crashed.returncode == CRASH_EXIT, crashed.stderr
        ex = s.xs.get(s.name)
        committed = 2  # killed before page 3's commit, or just after page 2's
        assert ex.pages == committed and ex.checkpoint is not None and ex.checkpoint["partial"]
        items = s.xs.counts(s.name)["items"]
        assert s.bank_count() == items > 0  # whole pages only: every item has its entry, nothing else
        before = len(s.mock.data.calls)
        again = _haven(["exchange", "fetch", "--json", s.name], env)
        assert again.returncode == 0, again.stderr
        assert '"resumed": true' in again.stdout
        assert s.xs.get(s.name).pages == 5
        live = s.mock.data.live()
        assert s.bank_set() == live and s.bank_count() == len(live)  # no gap, no duplicate
        assert s.xs.counts(s.name) == {"items": len(live), "tombstones": 0}
        assert len(s.mock.data.calls) - before == 5 - committed  # resumed at page 3 (read-ahead is not kept)
    finally:
        s.close()
