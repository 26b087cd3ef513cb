"""Crash at every step of a submission (the process dies between a confirmed remote step and its commit),
then resume: exactly one finished report on the mock, every time.

The crashing run is a real separate process killed with ``os._exit`` at a ``haven.faults`` point: forked
for the full matrix (fast), and once through the real ``haven report submit`` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from report_helpers import MASTER_KEY, PASSWORD, USER, finished

from haven.config import Settings
from haven.faults import FAULTS
from haven.reporting.case import load_case
from haven.reporting.mock import MockNcmec
from haven.reporting.service import ReportService
from haven.reporting.settings import ReportingSettings
from haven.store.db import upgrade_database

CRASHED = 70


def _crash_in_child(svc: ReportService, rid: int, point: str) -> int:
    """Fork; the child submits with the crash hook armed. Returns the child's exit status."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            FAULTS.arm(point)
            svc.engine.dispose(close=False)  # don't share the parent's connections
            child = ReportService(str(svc.engine.url), settings=svc.settings, reporting=svc.reporting)
            child.submit(rid)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


POINTS = ["before_submit", "after_submit", "before_upload", "after_upload:1", "after_upload:2",
          "after_fileinfo:1", "after_fileinfo:2", "before_finish", "after_finish"]


@pytest.mark.parametrize("point", POINTS)
def test_crash_then_resume_files_exactly_one_report(
    sqlite_url: str, make_service: Callable[..., ReportService], mock: MockNcmec, case_file: Path, point: str
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    assert _crash_in_child(svc, rid, point) == CRASHED
    assert len(finished(mock)) == (1 if point == "after_finish" else 0)
    report = svc.submit(rid)  # resume in this process, crash hook disarmed
    done = finished(mock)
    assert (
        len(done) == 1 and report["state"] == "finished" and report["ncmec_report_id"] == done[0]["report_id"]
    )
    assert len(done[0]["files"]) == 2 and all(f["details"] for f in done[0]["files"])
    states = sorted(r["state"] for r in mock.reports())
    if point == "after_submit":  # the first report's id died with the process: left open, discarded by NCMEC
        assert states == ["finished", "open"]
    elif point.startswith(("before_upload", "after_upload")):
        # An upload whose intent was recorded but whose result was not: it may hold an unnamed extra copy,
        # so the half-sent report is retracted and a clean one filed.
        assert states == ["finished", "retracted"]
    else:
        assert states == ["finished"]  # resumed in place, same NCMEC report
    assert mock.state.calls.count("POST /finish") == (2 if point == "after_finish" else 1)


def test_crash_between_upload_and_finish_through_the_cli(tmp_path: Path, mock: MockNcmec, case_file: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAVEN_MASTER_KEY", MASTER_KEY)
    env = {**os.environ, "HAVEN_DATA_DIR": str(tmp_path / "data"), "HAVEN_DATABASE_URL": f"sqlite:///{tmp_path}/h.db",
           "HAVEN_MASTER_KEY": MASTER_KEY, "HAVEN_NCMEC_ENV": "mock", "HAVEN_NCMEC_URL": mock.url,
           "HAVEN_NCMEC_TIMEOUT": "2", "HAVEN_NCMEC_BACKOFF": "0.01"}
    upgrade_database(env["HAVEN_DATABASE_URL"])
    svc = ReportService(env["HAVEN_DATABASE_URL"],
                        settings=Settings(data_dir=tmp_path / "data", master_key=MASTER_KEY),
                        reporting=ReportingSettings(environment="mock", url=mock.url))
    svc.save_credentials(USER, PASSWORD)
    rid = svc.create_from_case(load_case(case_file))
    haven = [sys.executable, "-m", "haven.cli.main", "report"]
    armed = [sys.executable, "-m", "haven.faults", "after_fileinfo:1", "--", "haven", "report"]
    crash = subprocess.run([*armed, "submit", str(rid)], env=env, capture_output=True, text=True, timeout=120)
    assert crash.returncode == CRASHED, crash.stderr
    # Died after NCMEC took file 1's details, before recording it: the file is uploaded, details unconfirmed.
    assert [u["state"] for u in svc.get(rid)["attempts"][0]["uploads"]] == ["uploaded"] and finished(
        mock
    ) == []
    again = subprocess.run(
        [*haven, "submit", "--json", str(rid)], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert '"state": "finished"' in again.stdout
    assert len(finished(mock)) == 1 and len(mock.reports()) == 1
    svc.close()
