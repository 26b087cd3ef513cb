"""Submission over real HTTP against the mock: the full flow, every fault at every step, exactly one finished
report."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from report_helpers import CASE, PHOTOS, finished
from sqlalchemy import update

from haven.config import Settings
from haven.errors import AuthError, ConflictError, RemoteError, SchemaError
from haven.reporting.case import case_from_dict, load_case
from haven.reporting.mock import MockNcmec
from haven.reporting.models import Report
from haven.reporting.service import ReportService
from haven.reporting.settings import ReportingSettings

Make = Callable[..., ReportService]


def _assert_exactly_one_finished(mock: MockNcmec, svc: ReportService, rid: int) -> dict:
    done = finished(mock)
    assert len(done) == 1, [(r["report_id"], r["state"]) for r in mock.reports()]
    report = svc.get(rid)
    assert report["state"] == "finished" and report["ncmec_report_id"] == done[0]["report_id"]
    files = done[0]["files"]
    assert [f["md5"] for f in files] == [f["md5"] for f in report["files"]]  # each file once, in order
    assert all(f["details"] for f in files)
    return done[0]


def test_full_report_with_two_files(
    db_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(db_url)
    rid = svc.create_from_case(load_case(case_file))
    assert svc.get(rid)["state"] == "draft" and mock.state.calls == []
    report = svc.submit(rid)
    got = _assert_exactly_one_finished(mock, svc, rid)
    assert mock.state.calls == [
        "POST /submit",
        "POST /upload",
        "POST /fileinfo",
        "POST /upload",
        "POST /fileinfo",
        "POST /finish",
    ]
    assert got["xml"] == svc.xml(rid)
    first, second = got["files"]
    assert first["name"] == "0105.jpg" and first["size"] == (PHOTOS / "0105.jpg").stat().st_size
    assert "<industryClassification>A1</industryClassification>" in first["details"]
    assert f'<originalFileHash hashType="MD5">{report["files"][0]["md5"]}' in first["details"]
    assert f'<originalFileHash hashType="PDQ">{report["files"][0]["pdq"]}' in first["details"]
    assert "<originalFileName>IMG_0222.png</originalFileName>" in second["details"]
    assert "<fileName>0222.png</fileName>" in second["details"]
    assert "<viral>true</viral>" in second["details"]
    assert report["preservation_starts_at"] == report["finished_at"]
    from datetime import datetime

    start = datetime.fromisoformat(report["preservation_starts_at"])
    assert datetime.fromisoformat(report["preservation_ends_at"]) - start == timedelta(days=365)
    # Submitting a finished report again sends nothing.
    mock.state.calls.clear()
    assert svc.submit(rid)["state"] == "finished" and mock.state.calls == []
    kinds = [e["kind"] for e in svc.get(rid, events=True)["events"]]
    assert kinds[0] == "created" and kinds[-1] == "finished" and kinds.count("uploaded") == 2


FAULTS = [
    # (step, fault, extra) — timeouts and drops happen AFTER the server committed unless after_commit=False.
    ("submit", "http_500", {}),
    ("submit", "timeout", {}),
    ("submit", "drop", {}),
    ("submit", "drop", {"after_commit": False}),
    ("upload", "http_500", {}),
    ("upload", "timeout", {}),
    ("upload", "drop", {}),
    ("upload", "drop", {"skip": 1}),
    ("upload", "drop", {"after_commit": False}),
    ("fileinfo", "http_500", {}),
    ("fileinfo", "timeout", {"skip": 1}),
    ("fileinfo", "drop", {}),
    ("finish", "http_500", {}),
    ("finish", "timeout", {}),
    ("finish", "drop", {}),
    ("finish", "drop", {"after_commit": False}),
    ("upload", "delay", {"delay": 0.1}),
]


@pytest.mark.parametrize(
    ("step", "fault", "extra"),
    FAULTS,
    ids=[f"{s}-{f}-{'-'.join(f'{k}={v}' for k, v in e.items())}" for s, f, e in FAULTS],
)
def test_every_fault_at_every_step_ends_with_exactly_one_finished_report(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path, step: str, fault: str, extra: dict
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    mock.inject(step, fault, **({"delay": 0.8} | extra))
    svc.submit(rid)
    _assert_exactly_one_finished(mock, svc, rid)
    assert not mock.state.faults, "the fault was never triggered"
    others = [r for r in mock.reports() if r["state"] != "finished"]
    attempts = svc.get(rid)["attempts"]
    committed = extra.get("after_commit", True)
    if step == "submit" and fault in ("timeout", "drop"):
        # Outcome unknown, id never learnt: a fresh report is filed; an orphan (if the server had committed)
        # stays open and NCMEC discards it unfinished.
        assert [r["state"] for r in others] == (["open"] if committed else [])
        assert [a["state"] for a in attempts] == ["abandoned", "finished"]
    elif step == "upload" and fault in ("timeout", "drop"):
        # Outcome unknown: the half-sent report (id known) is retracted and a clean one filed.
        assert [r["state"] for r in others] == ["retracted"]
        assert [a["state"] for a in attempts] == ["retracted", "finished"]
    else:
        assert others == [] and len(attempts) == 1


def test_schema_invalid_report_is_refused_locally(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    bad = (
        svc.xml(rid).replace("<incidentType>", "<incidentKind>").replace("</incidentType>", "</incidentKind>")
    )
    with svc.sessions() as s:
        s.execute(update(Report).where(Report.id == rid).values(report_xml=bad))
        s.commit()
    with pytest.raises(SchemaError) as exc:
        svc.submit(rid)
    assert exc.value.element == "/report/incidentSummary/incidentKind"
    assert mock.state.calls == [] and mock.reports() == []
    assert svc.get(rid)["state"] == "failed" and "incidentKind" in svc.get(rid)["last_error"]


def test_case_that_fails_the_xsd_is_refused_at_create(
    sqlite_url: str, make_service: Make, mock: MockNcmec
) -> None:
    data = json.loads(json.dumps(CASE))
    data["reported_user"]["ips"][0]["port"] = 99999999999  # passes the case checks, not xs:int
    svc = make_service(sqlite_url)
    with pytest.raises(SchemaError) as exc:
        svc.create_from_case(case_from_dict(data))
    assert exc.value.element.endswith("/ipCaptureEvent/port")
    assert svc.list() == [] and mock.state.calls == []


def test_bad_credentials_fail_once_without_retry(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(sqlite_url)
    svc.save_credentials("haven-tests", "wrong-password")
    rid = svc.create_from_case(load_case(case_file))
    with pytest.raises(AuthError):
        svc.submit(rid)
    assert mock.state.calls == ["POST /submit"]
    assert svc.get(rid)["state"] == "failed"


def test_persistent_5xx_gives_up_then_resume_finishes(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    mock.inject("finish", "http_500", times=3)  # retries=2: three tries, all fail
    with pytest.raises(RemoteError, match="gave up"):
        svc.submit(rid)
    state = svc.get(rid)
    assert state["state"] == "failed" and state["attempts"][0]["state"] == "finishing"
    assert finished(mock) == []
    svc.submit(rid)  # resumes at /finish on the SAME NCMEC report
    done = _assert_exactly_one_finished(mock, svc, rid)
    assert done["report_id"] == state["attempts"][0]["ncmec_report_id"]
    assert mock.state.calls.count("POST /submit") == 1


def test_retract_unfinished_report(db_url: str, make_service: Make, mock: MockNcmec, case_file: Path) -> None:
    svc = make_service(db_url)
    rid = svc.create_from_case(load_case(case_file))
    mock.inject("fileinfo", "http_500", times=3)
    with pytest.raises(RemoteError):
        svc.submit(rid)
    assert svc.retract(rid)["state"] == "retracted"
    assert [r["state"] for r in mock.reports()] == ["retracted"]
    with pytest.raises(ConflictError):
        svc.submit(rid)


def test_finished_report_cannot_be_retracted(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    svc.submit(rid)
    with pytest.raises(ConflictError, match="finished"):
        svc.retract(rid)
    assert [r["state"] for r in mock.reports()] == ["finished"]


def test_reconciler_finishes_stuck_reports_and_survives_ncmec_expiry(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    mock.inject("fileinfo", "http_500", times=3)
    with pytest.raises(RemoteError):
        svc.submit(rid)
    first = svc.get(rid)["attempts"][0]["ncmec_report_id"]
    mock.state.expire_after = 0.0  # NCMEC deletes the unfinished report
    assert mock.reports() == []
    mock.state.expire_after = 3600.0
    assert svc.reconcile(timedelta(hours=1)) == []  # not stale yet: left alone
    out = svc.reconcile(timedelta(0))
    assert out == [{"id": rid, "action": "finish", "ok": True}]
    done = _assert_exactly_one_finished(mock, svc, rid)
    assert done["report_id"] != first
    assert [a["state"] for a in svc.get(rid)["attempts"]] == ["gone", "finished"]


def test_reconciler_can_retract_instead(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    mock.inject("upload", "http_500", times=3)
    with pytest.raises(RemoteError):
        svc.submit(rid)
    assert svc.reconcile(timedelta(0), retract=True) == [{"id": rid, "action": "retract", "ok": True}]
    assert [r["state"] for r in mock.reports()] == ["retracted"] and svc.get(rid)["state"] == "retracted"


def test_lease_keeps_two_processes_apart(
    sqlite_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(load_case(case_file))
    from haven.reporting.models import utcnow

    with svc.sessions() as s:  # a live process (our parent) holds the lease
        s.execute(
            update(Report)
            .where(Report.id == rid)
            .values(
                lease_owner=f"{socket.gethostname()}:{os.getppid()}/1",
                lease_until=utcnow() + timedelta(minutes=5),
            )
        )
        s.commit()
    with pytest.raises(ConflictError, match="being submitted"):
        svc.submit(rid)
    assert mock.state.calls == []
    with svc.sessions() as s:  # a dead process's lease is taken over at once
        s.execute(
            update(Report).where(Report.id == rid).values(lease_owner=f"{socket.gethostname()}:999999999/1")
        )
        s.commit()
    assert svc.submit(rid)["state"] == "finished"


def test_file_changed_after_create_is_refused(
    sqlite_url: str, make_service: Make, mock: MockNcmec, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    shutil.copy(PHOTOS / "0003.jpg", photo)
    data = json.loads(json.dumps(CASE))
    data["files"] = [{"path": str(photo)}]
    svc = make_service(sqlite_url)
    rid = svc.create_from_case(case_from_dict(data))
    photo.write_bytes(photo.read_bytes() + b"\0")
    with pytest.raises(ConflictError, match="changed since the report was created"):
        svc.submit(rid)
    assert mock.state.calls == ["POST /submit"]  # nothing uploaded; the open report is retracted by reconcile
    assert svc.reconcile(timedelta(0), retract=True)[0]["ok"]
    assert [r["state"] for r in mock.reports()] == ["retracted"]


def test_create_from_match_results(sqlite_url: str, make_service: Make, mock: MockNcmec) -> None:
    svc = make_service(sqlite_url)
    template = case_from_dict(json.loads(json.dumps(CASE)))
    # The shape `haven match --json` prints: one object per file, errors and non-matches included.
    matches = [
        {
            "path": str(PHOTOS / "0004.jpg"),
            "pdq": "0" * 64,
            "matches": [
                {"bank": "test", "distance": 0, "category": "B1", "category_scheme": "us-industry"},
                {"bank": "other", "distance": 3, "category": "A2", "category_scheme": "us-industry"},
            ],
        },
        {"path": str(PHOTOS / "0005.jpg"), "matches": []},
        {"path": str(PHOTOS / "0007.jpg"), "error": {"code": "corrupt", "message": "x"}},
        {"path": str(PHOTOS / "0006.jpg"), "md5": "0" * 32, "matches": [{"bank": "test"}]},
    ]
    with pytest.raises(ConflictError, match="md5"):  # the match result's digest disagrees with the file
        svc.create_from_match(matches, template.reporter, incident=template.incident)
    rid = svc.create_from_match(matches[:3], template.reporter, incident=template.incident)
    report = svc.get(rid)
    assert report["source"] == "match" and [f["name"] for f in report["files"]] == ["0004.jpg"]
    assert report["files"][0]["pdq"] != "0" * 64  # recomputed from the file, not taken from the match
    svc.submit(rid)
    done = _assert_exactly_one_finished(mock, svc, rid)
    assert "<industryClassification>A2</industryClassification>" in done["files"][0]["details"]


def test_database_failures_become_storage_errors(tmp_path: Path) -> None:
    from haven.errors import StorageError

    svc = ReportService(
        "postgresql+psycopg://postgres@127.0.0.1:1/nope",
        settings=Settings(data_dir=tmp_path),
        reporting=ReportingSettings(),
    )
    with pytest.raises(StorageError, match="report database error"):
        svc.list()


def test_concurrent_submits_file_once(
    db_url: str, make_service: Make, mock: MockNcmec, case_file: Path
) -> None:
    svc = make_service(db_url)
    rid = svc.create_from_case(load_case(case_file))
    mock.inject("submit", "delay", delay=0.4)  # the first submit holds the lease while the second arrives
    results: list[object] = []

    def run() -> None:
        try:
            results.append(svc.submit(rid)["state"])
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "finished" in results
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    _assert_exactly_one_finished(mock, svc, rid)
    assert mock.state.calls.count("POST /submit") == 1


def test_faults_on_postgres(postgres_url: str, make_service: Make, mock: MockNcmec, case_file: Path) -> None:
    """The richest recovery path (taint → retract → new attempt, then a lost /finish answer) on PostgreSQL."""
    svc = make_service(postgres_url)
    rid = svc.create_from_case(load_case(case_file))
    mock.inject("upload", "drop", skip=1)
    mock.inject("finish", "drop")
    svc.submit(rid)
    _assert_exactly_one_finished(mock, svc, rid)
    assert sorted(r["state"] for r in mock.reports()) == ["finished", "retracted"]
