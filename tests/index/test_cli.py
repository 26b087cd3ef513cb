"""`haven index …` and `haven bench index` as a user runs them: real subprocesses, JSON, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HAVEN = [sys.executable, "-m", "haven.cli.main"]
A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
B = "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22"  # 4 bits from A


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HAVEN, *args], capture_output=True, text=True, timeout=300, input=stdin)


def test_build_query_stats(tmp_path: Path) -> None:
    src = tmp_path / "h.csv"
    src.write_text(f"# id,pdq\n1,{A}\n2 {B}\n\n3,{'0' * 64}\n")
    out = tmp_path / "bank.hidx"
    proc = run("index", "build", str(out), str(src), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["count"] == 3

    proc = run("index", "query", "--json", str(out), A, "f" * 64)
    assert proc.returncode == 1, proc.stderr  # a match was found
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["matches"] == [{"id": 1, "distance": 0}, {"id": 2, "distance": 4}]
    assert second == {"query": "f" * 64, "matches": []}

    proc = run("index", "query", "-t", "3", str(out), B)
    assert proc.returncode == 1 and f"{B}: 2 (d=0)" in proc.stdout

    proc = run("index", "query", str(out), "1" * 64)
    assert proc.returncode == 0 and "no match" in proc.stdout

    proc = run("index", "stats", "--json", "--verify", str(out))
    assert proc.returncode == 0 and json.loads(proc.stdout)["count"] == 3


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    def err(p: subprocess.CompletedProcess[str]) -> str:
        return " ".join(p.stderr.split())  # the console wraps long paths

    src = tmp_path / "bad.csv"
    src.write_text("1,nothex\n")
    proc = run("index", "build", str(tmp_path / "x.hidx"), str(src))
    assert proc.returncode == 2 and "not a valid PDQ hash" in err(proc)
    proc = run("index", "query", str(tmp_path / "missing.hidx"), A)
    assert proc.returncode == 2 and "no index at" in err(proc)
    (tmp_path / "junk.hidx").write_bytes(b"x" * 100)
    proc = run("index", "query", str(tmp_path / "junk.hidx"), A)
    assert proc.returncode == 2 and "not a Haven index" in err(proc)


def test_bench_index_json_contract_without_peers() -> None:
    proc = run("bench", "index", "--n", "5000", "--queries", "40", "--no-peers", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.splitlines()[-1])
    assert res["n"] == 5000 and res["haven_recall"] == 1.0 and res["truth"] == "haven_scan"
    assert res["contenders"]["haven"]["wrong"] == 0
    assert res["true_pairs"] >= 20  # the 20 planted queries each have their source row
    for key in ("haven_qps", "pytx_qps", "ratio_vs_pytx", "haven_rss_mib"):
        assert key in res


@pytest.mark.slow
def test_bench_index_with_peers_agrees_with_faiss() -> None:
    proc = run("bench", "index", "--n", "20000", "--queries", "100", "--json", "--data", "clustered")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.splitlines()[-1])
    assert res["truth"] == "faiss_flat" and res["haven_recall"] == 1.0
    assert res["contenders"]["haven"]["wrong"] == 0 and res["ratio_vs_pytx"] > 0
