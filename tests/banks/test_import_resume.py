"""A real ``haven bank import`` subprocess killed with SIGKILL mid-import leaves only whole batches,
and running the same import again finishes it exactly once (no duplicates, nothing lost)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bank_fixtures import sqlite_store, store  # fixtures
from sqlalchemy import func, select

from haven.banks import BankStore
from haven.banks.store import ENTRIES, IMPORTS

HAVEN = [sys.executable, "-m", "haven.cli.main"]
ROWS = 12_000


def test_killed_import_resumes_exactly_once(store: BankStore, db_url: str, tmp_path: Path) -> None:
    rng = random.Random(3)
    values = [f"{rng.getrandbits(256):064x}" for _ in range(ROWS)]
    src = tmp_path / "big.csv"
    src.write_text("signal,value,quality\n" + "".join(f"pdq,{v},90\n" for v in values))
    store.create_bank("big")
    env = {**os.environ, "HAVEN_DATABASE_URL": db_url, "HAVEN_DATA_DIR": str(tmp_path / "data")}
    cmd = [*HAVEN, "bank", "import", "big", str(src), "--batch-size", "250", "--quiet"]

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done = 0
    while done < 2_000:
        assert proc.poll() is None, "import finished before it could be killed"
        assert time.monotonic() < deadline
        with store.engine.connect() as conn:
            done = conn.execute(select(func.coalesce(func.max(IMPORTS.c.records_done), 0))).scalar_one()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with store.engine.connect() as conn:
        imp = conn.execute(select(IMPORTS)).one()
        count = conn.execute(select(func.count()).select_from(ENTRIES)).scalar_one()
    assert imp.status == "running" and 2_000 <= imp.records_done < ROWS
    # Only whole batches: the rows present are exactly the checkpointed ones.
    assert count == imp.rows_added == imp.records_done and count % 250 == 0

    # Run it again (in-process: the same code path the CLI calls) and it finishes exactly once.
    with BankStore(db_url) as again_store:
        result = again_store.import_file("big", src, batch_size=250)
        assert result.resumed_from == imp.records_done and result.rows_added == ROWS - imp.records_done
    with store.engine.connect() as conn:
        got = [r[0] for r in conn.execute(select(ENTRIES.c.value).order_by(ENTRIES.c.id))]
        imp = conn.execute(select(IMPORTS)).one()
    assert got == values  # every row once, in file order
    assert (imp.status, imp.records_done, imp.rows_added) == ("done", ROWS, ROWS)
    assert store.import_file("big", src).already_done
    assert len(list(store.iter_entries("big"))) == ROWS


def test_two_runs_of_the_same_import_never_double_insert(store: BankStore, tmp_path: Path) -> None:
    """Two runs interleaved batch by batch: the second fails at its first checkpoint, rows stay exact."""
    from haven.errors import ConflictError

    rng = random.Random(5)
    values = [f"{rng.getrandbits(256):064x}" for _ in range(50)]
    src = tmp_path / "x.csv"
    src.write_text("signal,value\n" + "".join(f"pdq,{v}\n" for v in values))
    store.create_bank("b")
    clashes = []

    def second_run(records: int, rows: int, pos: int) -> None:
        if not clashes:  # while the first run is between batches, a second run starts and commits
            try:
                store.import_file("b", src, batch_size=10)
            except ConflictError as exc:
                clashes.append(exc)
            else:
                clashes.append(None)

    try:
        store.import_file("b", src, batch_size=10, on_progress=second_run)
    except ConflictError as exc:
        clashes.append(exc)
    # Exactly one of the two runs stopped on the checkpoint clash; no value was inserted twice.
    got = [e.value for e in store.iter_entries("b")]
    assert len(got) == len(set(got)) and set(got) <= set(values)
    assert any(isinstance(c, ConflictError) for c in clashes)
    store.import_file("b", src, batch_size=10)  # finishing it afterwards still gives each row once
    got = [e.value for e in store.iter_entries("b")]
    assert sorted(got) == sorted(values)


def test_resume_skips_exactly_with_blank_lines_and_bad_rows(sqlite_store: BankStore, tmp_path: Path) -> None:
    rng = random.Random(9)
    lines, good = ["signal,value"], []
    for k in range(300):
        if k % 7 == 3:
            lines.append("pdq,bad")
        elif k % 11 == 5:
            lines.append("")
        else:
            v = f"{rng.getrandbits(256):064x}"
            good.append(v)
            lines.append(f"pdq,{v}")
    src = tmp_path / "mixed.csv"
    src.write_text("\n".join(lines) + "\n")
    sqlite_store.create_bank("m")

    class Interrupted(Exception):
        pass

    def stop_after_two(records: int, rows: int, pos: int) -> None:
        if rows >= 40:
            raise Interrupted

    with pytest.raises(Interrupted):
        sqlite_store.import_file("m", src, batch_size=20, on_progress=stop_after_two)
    first = sqlite_store.list_imports("m")[0]
    assert first.status == "interrupted" and first.rows_added == 40  # resumable, shown as stopped
    result = sqlite_store.import_file("m", src, batch_size=20)
    assert result.resumed_from == first.records_done
    assert [e.value for e in sqlite_store.iter_entries("m")] == good
    final = sqlite_store.list_imports("m")[0]
    assert final.errors == sum(1 for x in lines if x == "pdq,bad") and final.rows_added == len(good)
