"""``haven eval``: the JSON object, the table with the goals and the defaults, the plot, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from haven_cli import env, run
from haven_testdata import PHOTOS

pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="no shared photos")
FEW = ["--photos", str(PHOTOS), "--limit", "3", "--max-side", "256"]


def test_json_and_plot(env: dict, tmp_path: Path) -> None:
    plot = tmp_path / "eval.png"
    code, out = run("eval", *FEW, "--methods", "pdq,bank-crops", "--transforms", "crop_10", "--json",
                    "--plot", str(plot))
    assert code == 0, out
    doc = json.loads(out)
    assert doc["photos"] == 3 and doc["threshold"] == 31
    assert [m["name"] for m in doc["methods"]] == ["pdq", "bank-crops"]
    rows = {(r["method"], r["transform"]): r for r in doc["results"]}
    assert set(rows) == {(m, t) for m in ("pdq", "bank-crops") for t in ("original", "crop_10")}
    assert rows[("pdq", "original")]["recall"] == 1.0 and rows[("pdq", "original")]["pairs"] == 6
    assert doc["defaults"]["haven match"]["robust"] is True
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_says_goals_and_defaults(env: dict) -> None:
    code, out = run("eval", *FEW, "--transforms", "crop_5,rotate_4")
    assert code == 0, out
    assert "recall at PDQ distance ≤ 31 over 3 photos" in out
    assert "crop_5: haven" in out and "false-match rate: haven" in out
    assert "defaults on: haven match: dihedral=True" in out


def test_unknown_names_and_missing_folder(env: dict, tmp_path: Path) -> None:
    assert run("eval", *FEW, "--methods", "nope")[0] == 2
    assert run("eval", *FEW, "--transforms", "nope")[0] == 2
    assert run("eval", "--photos", str(tmp_path / "none"))[0] == 2
