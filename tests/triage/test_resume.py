"""kill -9 in the middle of a real `haven triage` process, rerun: the outputs equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from seizure_builder import PHOTOS, Seizure

from haven.triage.bench import generate_seizure

HAVEN = str(Path(sys.executable).with_name("haven"))
COMPARED = ("files.csv", "problems.csv", "vics.json", "report.html", "summary.json")


def _rows(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT count(*) FROM files").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (the worker pool and its forkserver), from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_resume_after_kill_gives_identical_outputs(seizure: Seizure, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    records = generate_seizure(PHOTOS, evidence, 900, jobs=1)
    env = {**os.environ, "HAVEN_DATABASE_URL": seizure.bank_url, "HAVEN_DATA_DIR": str(tmp_path / "data")}
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    args = [HAVEN, "triage", str(evidence), "--json", "--no-progress", "-j", "2"]

    proc = subprocess.Popen(
        [*args, "--out", str(resumed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while _rows(resumed / "case.db") == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make the seizure bigger"
    helpers = _descendants(proc.pid)
    assert helpers, "-j 2 runs the per-file work in worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The worker processes notice and end too: nothing is left running after a kill -9.
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in helpers if _alive(p)], "worker processes outlived the killed triage"
    partial = _rows(resumed / "case.db")
    assert 0 < partial < len(records) + 10  # killed mid-run, with committed work to resume from
    assert not (resumed / "files.csv").exists()

    done = subprocess.run(
        [*args, "--out", str(resumed)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["files"] == len(records) and summary["errors"] == 0
    log = [json.loads(line) for line in (resumed / "run.log").read_text().splitlines()]
    assert [e["event"] for e in log] == ["start", "start", "end"] and log[1]["resumed"] is True
    assert log[2]["new_files"] < summary["files"] + summary["containers"]  # the second run skipped work

    ref = subprocess.run([*args, "--out", str(full)], env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    for name in COMPARED:
        assert (resumed / name).read_bytes() == (full / name).read_bytes(), name
    # The court record names the tool version and the input's hash.
    assert log[0]["version"] and log[2]["sources"][0]["sha256"]


def test_a_case_from_another_case_schema_is_refused(tmp_path: Path) -> None:
    """Resuming into a case database another Haven version wrote (other columns) is a usage error."""
    from haven.errors import UsageError
    from haven.triage.casedb import CaseDB

    db = CaseDB(tmp_path / "case.db")
    assert db.claim(["/evidence"]) is False
    db.set_meta("schema", "1")
    db.close()
    db = CaseDB(tmp_path / "case.db")
    with pytest.raises(UsageError, match="another Haven version .*case schema 1"):
        db.claim(["/evidence"])
    db.close()


def test_source_manifest_hash_is_over_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder's SHA-256 is over 'relative path<TAB>sha256<TAB>size' lines, whether the folder
    was given as an absolute or a relative path (the fast prefix path and os.path.relpath agree)."""
    import hashlib

    from haven.triage.casedb import FileRow
    from haven.triage.runner import source_manifest

    (tmp_path / "ev" / "sub").mkdir(parents=True)
    names = ["a.jpg", "sub/b.jpg", "sub/c d.jpg"]
    expected = hashlib.sha256(
        "".join(f"{n}\t{k:064x}\t{k}\n" for k, n in enumerate(sorted(names))).encode()
    ).hexdigest()

    def rows(folder: str) -> list[FileRow]:
        return [FileRow(path=os.path.join(folder, n), source=0, depth=0, size=sorted(names).index(n),
                        hashes={"sha256": f"{sorted(names).index(n):064x}"}) for n in names]

    absolute = str(tmp_path / "ev")
    assert source_manifest([absolute], rows(absolute))[0]["sha256"] == expected
    monkeypatch.chdir(tmp_path)
    assert source_manifest(["ev"], rows("ev"))[0]["sha256"] == expected
    assert source_manifest(["ev/"], rows("ev/"))[0]["sha256"] == expected
