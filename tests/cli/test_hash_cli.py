"""`haven hash` as a user runs it: a real subprocess, its JSON lines, its exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from haven_testdata import PDQ_REF, PHOTOS

HAVEN = [sys.executable, "-m", "haven.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HAVEN, *args], capture_output=True, text=True, timeout=120)


def test_json_contract_on_reference_image() -> None:
    proc = run("hash", "--json", str(PDQ_REF / "images/bridge-mods/aaa-orig.jpg"))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    obj = json.loads(line)
    assert obj["pdq"] == "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    assert obj["quality"] == 100
    assert set(obj) >= {"path", "pdq", "quality", "md5", "sha1", "sha256", "width", "height"}
    assert (obj["width"], obj["height"]) == (1600, 1004)


def test_folder_with_bad_files_reports_each_and_exits_2(tmp_path: Path) -> None:
    good = sorted(PHOTOS.glob("*.jpg"))[:3]
    for p in good:
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "empty.jpg").touch()
    (tmp_path / "noise.png").write_bytes(b"\x00\x01garbage" * 100)
    (tmp_path / "dir.jpg").mkdir()
    (tmp_path / "dir.jpg" / "inner.txt").write_text("x")
    cut = good[0].read_bytes()
    (tmp_path / "cut.jpg").write_bytes(cut[: len(cut) // 3])
    proc = run("hash", "--json", str(tmp_path), str(tmp_path / "missing.jpg"))
    assert proc.returncode == 2
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    by_name = {Path(o["path"]).name: o for o in objs}
    for p in good:
        assert len(by_name[p.name]["pdq"]) == 64
    assert by_name["empty.jpg"]["error"]["code"] == "empty"
    assert by_name["noise.png"]["error"]["code"] == "not_image"
    assert by_name["cut.jpg"]["error"]["code"] == "truncated"
    assert by_name["inner.txt"]["error"]["code"] == "not_image"
    assert by_name["missing.jpg"]["error"]["code"] == "not_found"
    assert all("message" in o["error"] for o in objs if "error" in o)


def test_directory_named_x_jpg_given_directly(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").mkdir()
    proc = run("hash", "--json", str(tmp_path / "x.jpg"))
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["code"] == "is_directory"


def test_algo_selection_and_dihedral() -> None:
    path = str(PDQ_REF / "images/misc-images/wee.jpg")
    obj = json.loads(run("hash", "--json", "--algo", "md5,pdq", "--dihedral", path).stdout)
    assert "sha256" not in obj and "md5" in obj and len(obj["dihedral"]) == 8


def test_unknown_algorithm_is_a_usage_error() -> None:
    proc = run("hash", "--algo", "crc32", str(PDQ_REF / "images/misc-images/wee.jpg"))
    assert proc.returncode == 2
    assert "unknown hash algorithm" in proc.stderr


def test_table_output_and_help() -> None:
    proc = run("hash", str(PDQ_REF / "images/misc-images/wee.jpg"))
    assert proc.returncode == 0 and "6227401f601ff4cc" in proc.stdout
    assert run("hash", "--help").returncode == 0
    assert run("--help").returncode == 0


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_parallel_output_keeps_input_order(jobs: str) -> None:
    files = [str(p) for p in sorted(PHOTOS.glob("*.png"))[:12]]
    proc = run("hash", "--json", "--algo", "pdq", "--jobs", jobs, *files)
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == files
