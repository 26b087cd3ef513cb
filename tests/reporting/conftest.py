"""Fixtures for the reporting tests: a live mock NCMEC server, case files over benign photos, a service."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from report_helpers import CASE, MASTER_KEY, PASSWORD, USER

from haven.config import Settings
from haven.reporting.mock import MockNcmec
from haven.reporting.service import ReportService
from haven.reporting.settings import ReportingSettings
from haven.store.db import make_engine, upgrade_database


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


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied once; tests copy it instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "haven.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.connect() as conn:  # fold the WAL into the main file so a plain copy is complete
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def make_service(tmp_path: Path, mock: MockNcmec, monkeypatch: pytest.MonkeyPatch, migrated_sqlite: Path
                 ) -> Iterator[Callable[[str], ReportService]]:
    """Build a ReportService on ``url`` talking to the mock with short timeouts; closed at teardown."""
    monkeypatch.setenv("HAVEN_MASTER_KEY", MASTER_KEY)
    made: list[ReportService] = []

    def make(url: str, **reporting: object) -> ReportService:
        opts = {
            "environment": "mock",
            "url": mock.url,
            "timeout": 0.5,
            "retries": 2,
            "backoff": 0.01,
            **reporting,
        }
        migrate = True
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
            shutil.copy(migrated_sqlite, url[len("sqlite:///") :])
            migrate = False
        if migrate:
            upgrade_database(url)
        svc = ReportService(url, settings=Settings(data_dir=tmp_path / "data", master_key=MASTER_KEY),
                            reporting=ReportingSettings(**opts))  # type: ignore[arg-type]
        svc.save_credentials(USER, PASSWORD)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
