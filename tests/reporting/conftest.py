"""Fixtures for the reporting tests: a live mock NCMEC server, case files over benign photos, a service."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from report_helpers import CASE, PASSWORD, SECRET_KEY, USER

from haven.config import Settings
from haven.reporting.mock import MockNcmec
from haven.reporting.service import ReportService
from haven.reporting.settings import ReportingSettings


@pytest.fixture(scope="session")
def mock_server() -> Iterator[MockNcmec]:
    with MockNcmec(users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture
def mock(mock_server: MockNcmec) -> MockNcmec:
    """The shared mock, emptied for this test."""
    st = mock_server.state
    with st.lock:
        st.reports.clear()
        st.faults.clear()
        st.calls.clear()
    st.expire_after = 3600.0
    return mock_server


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    p = tmp_path / "case.json"
    p.write_text(json.dumps(CASE))
    return p


@pytest.fixture
def make_service(tmp_path: Path, mock: MockNcmec, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[Callable[[str], ReportService]]:
    """Build a ReportService on ``url`` talking to the mock with short timeouts; closed at teardown."""
    monkeypatch.setenv("HAVEN_SECRET_KEY", SECRET_KEY)
    made: list[ReportService] = []

    def make(url: str, **reporting: object) -> ReportService:
        opts = {"environment": "mock", "url": mock.url, "timeout": 0.5, "retries": 2, "backoff": 0.01, **reporting}
        svc = ReportService(url, settings=Settings(data_dir=tmp_path / "data"),
                            reporting=ReportingSettings(**opts))  # type: ignore[arg-type]
        svc.save_credentials(USER, PASSWORD)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
