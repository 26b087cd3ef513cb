"""``haven spark import``: a big Haven CSV cut into pieces at record boundaries (a quoted newline
inside a field included) and imported in parallel through ``import_file`` gives the same bank as
``haven bank import``; a rerun skips the finished pieces; a bad record is named by its line in the
original file."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from haven.banks import BankStore
from haven.banks.chunks import plan
from haven.spark.importer import import_piece, run_import
from haven.store.db import upgrade_database

pytestmark = pytest.mark.timeout(900)  # the first Spark test starts the session (a JVM): slow on a loaded box


def _csv(path: Path, rows: int) -> int:
    """A Haven CSV of ``rows`` records, one note with a newline inside quotes, one bad record; returns the
    bad record's line number."""
    rng = random.Random(5)
    lines = ["signal,value,category,note"]
    bad = 0
    for k in range(rows):
        note = '"two\nlines, and a "" quote"' if k == 7 else f"row {k}"
        lines.append(f"pdq,{rng.getrandbits(256):064x},A1,{note}")
        if k == rows // 2:
            lines.append("pdq,not-a-hash,A1,bad")
            bad = len(lines) + 1  # line numbers count the note's extra line
    path.write_text("\n".join(lines) + "\n")
    return bad


def _entries(url: str, bank: str) -> list[tuple[str, str, str | None, str | None]]:
    with BankStore(url) as store:
        return sorted((e.signal, e.value, e.category, e.note) for e in store.iter_entries(bank))


def test_parallel_import_equals_bank_import_and_resumes(spark: Any, tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    bad_line = _csv(src, 1500)
    pieces = plan(src, "csv", 16_384)
    assert len(pieces) >= 5
    assert all(p.header == b"signal,value,category,note\n" for p in pieces)
    url = f"sqlite:///{tmp_path / 'haven.db'}"
    upgrade_database(url)
    with BankStore(url) as store:
        store.create_bank("spark")
        store.create_bank("plain")
        plain = store.import_file("plain", src)
    stage = tmp_path / "stage"
    # An earlier run that finished one piece before it was stopped.
    from haven.spark.importer import _stage_name

    import_piece(pieces[1], "csv", "spark", url, str(stage / _stage_name(str(src), "csv", 16_384)), None)
    got = run_import(
        spark,
        [str(src)],
        "spark",
        database_url=url,
        stage_dir=stage,
        index_dir=tmp_path / "index",
        piece_bytes=16_384,
    )
    assert got.pieces == len(pieces) and got.pieces_done_before == 1
    assert got.errors == plain.errors == 1
    assert got.messages == [f"{src}:{bad_line}: {plain.messages[0].split(': ', 2)[-1]}"]
    assert _entries(url, "spark") == _entries(url, "plain")
    assert len(_entries(url, "spark")) == 1500
    assert (tmp_path / "index" / "index-manifest.json").exists()
    again = run_import(
        spark, [str(src)], "spark", database_url=url, stage_dir=stage, index_dir=None, piece_bytes=16_384
    )
    assert again.pieces_done_before == len(pieces) and again.rows_added == 0
    assert len(_entries(url, "spark")) == 1500
