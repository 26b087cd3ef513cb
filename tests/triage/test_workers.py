"""The per-file work in worker processes: real `haven triage` processes, real files and archives.

- 2 worker processes give byte-identical outputs (and case-database rows) to 1 (in-process);
- a worker that dies takes only its own file, recorded as an error, and the run completes
  (the death is injected through ``TriageOptions.hook``, an explicit test hook object).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from seizure_builder import PHOTOS, Seizure

from haven.banks.store import BankStore
from haven.matching import Matcher
from haven.media import Entry
from haven.triage import TriageOptions, run_triage
from haven.triage.bench import generate_seizure

HAVEN = str(Path(sys.executable).with_name("haven"))
COMPARED = ("files.csv", "problems.csv", "vics.json", "report.html", "summary.json")


def _triage(sources: list[str], out: Path, jobs: int, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [HAVEN, "triage", *sources, "--out", str(out), "--json", "--no-progress", "-j", str(jobs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _file_rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(str(db))
    try:
        return list(conn.execute("SELECT * FROM files ORDER BY path"))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def evidence(
    seizure: Seizure, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[str], dict[str, str], Path]:
    """The test seizure (corrupt file, zip bomb, traversal member, nested archives) plus a generated
    one of about 600 files (folders, zips, a zip in a zip): many batches, several in flight."""
    tmp = tmp_path_factory.mktemp("workers")
    generate_seizure(PHOTOS, tmp / "generated", 600, jobs=1)
    env = {**os.environ, "HAVEN_DATABASE_URL": seizure.bank_url, "HAVEN_DATA_DIR": str(tmp / "data")}
    sources = [*map(str, seizure.sources), str(tmp / "generated")]
    _triage(sources, tmp / "one", 1, env)
    return sources, env, tmp / "one"


def test_two_worker_processes_give_byte_identical_outputs_to_one(
    evidence: tuple[list[str], dict[str, str], Path], tmp_path: Path
) -> None:
    sources, env, one = evidence
    two = tmp_path / "two"
    summary = _triage(sources, two, 2, env)
    assert summary["files"] > 600 and summary["errors"] == 2  # the truncated JPEG and the zip-bomb member
    for name in COMPARED:
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
    assert _file_rows(two / "case.db") == _file_rows(one / "case.db")
    log = [json.loads(line) for line in (two / "run.log").read_text().splitlines()]
    assert (
        log[-1]["outputs_sha256"]
        == [json.loads(x) for x in (one / "run.log").read_text().splitlines()][-1]["outputs_sha256"]
    )


class DieOn:
    """A worker hook: the worker process that reaches the file named ``name`` dies at once, as if
    a decoder had crashed (never in the triage process itself, which runs the work with ``-j 1``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, entry: Entry) -> None:
        if entry.path.name == self.name and multiprocessing.parent_process() is not None:
            os._exit(70)


def test_a_worker_that_dies_costs_only_its_own_file(
    evidence: tuple[list[str], dict[str, str], Path], seizure: Seizure, tmp_path: Path
) -> None:
    sources, _, one = evidence
    rows_one = {r[0]: r for r in _file_rows(one / "case.db")}
    victim = sorted(p for p in rows_one if p.endswith("_q50.jpg") and "!/" not in p)[3]
    out = tmp_path / "crash"
    opts = TriageOptions(out=out, jobs=2, hook=DieOn(Path(victim).name))
    with BankStore(seizure.bank_url) as store:
        summary = run_triage(sources, opts, Matcher(store, auto_refresh=None))
    assert summary["errors"] == 3  # the two real ones, and the file its worker died on
    rows = {r[0]: r for r in _file_rows(out / "case.db")}
    assert rows.keys() == rows_one.keys()
    conn = sqlite3.connect(str(out / "case.db"))
    try:
        code, message = conn.execute(
            "SELECT error_code, error_message FROM files WHERE path = ?", (victim,)
        ).fetchone()
    finally:
        conn.close()
    assert code == "worker_crashed" and "died" in message
    # Every other file, including those in flight beside it when its worker died, is unharmed.
    assert {p: r for p, r in rows.items() if p != victim} == {
        p: r for p, r in rows_one.items() if p != victim
    }
