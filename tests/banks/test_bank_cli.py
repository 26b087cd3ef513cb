"""``haven bank`` and ``haven match`` end to end (SQLite), including the demo: the transformed copies
of banked photos match, the other photos do not, and the exit code is 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haven.cli.main import app, exit_code_for
from haven.errors import HavenError
from haven_cli import env, run
from haven_testdata import FORMATS_REF, PHOTOS

HAVEN = [sys.executable, "-m", "haven.cli.main"]
PDQ = "c4c8ea717e051345376f69602e6758980037f7e176337ad8e9f9bd4a8f76c88c"


def test_bank_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert run("bank", "create", "iwf", "--source", "IWF", "--threshold", "pdq=20")[0] == 0
    code, out = run("bank", "list", "--json")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert (row["name"], row["source"], row["thresholds"], row["created_by"]) == (
        "iwf",
        "IWF",
        {"pdq": 20},
        "tester",
    )
    code, out = run("bank", "add", "iwf", "--pdq", PDQ, "--md5", "ab" * 16, "--category", "B", "--json")
    added = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [a["severity"] for a in added] == [3, 3]
    code, out = run("bank", "import", "iwf", str(FORMATS_REF / "vics-hashset-example.json"), "--json")
    assert code == 0 and json.loads(out)["rows_added"] == 3
    code, out = run("bank", "show", "iwf", "--json")
    shown = json.loads(out)
    assert shown["entries"]["md5"] == {"total": 3, "active": 3} and len(shown["imports"]) == 1
    out_file = tmp_path / "iwf.csv"
    assert run("bank", "export", "iwf", "-o", str(out_file))[0] == 0
    assert len(out_file.read_text().splitlines()) == 1 + 5
    code, out = run("bank", "feedback", str(added[1]["id"]), "false_positive")
    assert code == 0 and "does not match" in out
    assert run("bank", "disable", "iwf")[0] == 0
    assert json.loads(run("bank", "show", "iwf", "--json")[1])["enabled"] is False
    assert run("bank", "set", "iwf", "--threshold", "pdq=25")[0] == 0


def test_import_reports_bad_rows_and_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"signal,value\npdq,{PDQ}\npdq,zz\n")
    assert run("bank", "create", "b")[0] == 0
    code, out = run("bank", "import", "b", str(bad))
    assert code == 2 and f"{bad}: line 3" in out and "imported 1 entries" in out
    code, out = run("bank", "create", "b")
    assert code == 3 and "already exists" in out
    assert run("bank", "show", "nope")[0] == 2
    code, out = run("bank", "delete", "b")
    assert code == 2 and "--yes" in out
    assert run("bank", "delete", "b", "--yes")[0] == 0


def test_demo_then_match_finds_transformed_copies_only(env: dict[str, str]) -> None:
    code, out = run("bank", "demo", "--photos", str(PHOTOS), "--count", "8", "--json")
    demo = json.loads(out)
    assert demo["created"] and demo["bank_entries"] == 16
    assert len(demo["expected_hits"]) == 6 and len(demo["expected_misses"]) == 5
    # The real command line, for the real exit code.
    r = subprocess.run([*HAVEN, "match", "--json", demo["queries"]], env=env, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    results = {Path(o["path"]).name: o for o in map(json.loads, r.stdout.splitlines())}
    assert set(results) == set(demo["expected_hits"]) | set(demo["expected_misses"])
    for name in demo["expected_hits"]:
        assert results[name]["matches"], name
        assert all(m["bank"] == "demo" and m["distance"] <= 31 for m in results[name]["matches"])
    for name in demo["expected_misses"]:
        assert results[name]["matches"] == [], name
    exact = next(n for n in demo["expected_hits"] if n.startswith("hit-exact"))
    assert {m["signal"] for m in results[exact]["matches"]} == {"pdq", "md5"}
    # Idempotent: a second run keeps the bank as it is.
    again = json.loads(run("bank", "demo", "--photos", str(PHOTOS), "--count", "8", "--json")[1])
    assert again["created"] is False and again["bank_entries"] == 16
    miss = Path(demo["queries"]) / demo["expected_misses"][0]
    code, out = run("match", str(miss))
    assert code == 0 and "no match" in out
    assert run("match", str(miss.with_name("missing.jpg")))[0] == 2
    code, out = run("match", "--json", str(Path(demo["queries"]) / exact), str(miss.with_name("missing.jpg")))
    assert code == 1  # a match wins over an input error


def test_bench_import_small(env: dict[str, str]) -> None:
    code, out = run("bench", "import", "--rows", "3000", "--batch-size", "1000", "--json")
    assert code == 0
    res = json.loads(out.strip().splitlines()[-1])
    assert res["rows"] == 3000 and res["haven_seconds"] > 0 and res["peer_seconds"] > 0
    # (seconds are rounded to 0.01 s in the output, too coarse to recompute the ratio for 3000 rows)
    assert res["haven_vs_peer"] > 0 and res["haven_rows_per_min"] > 0 and res["peer_rows_per_min"] > 0
