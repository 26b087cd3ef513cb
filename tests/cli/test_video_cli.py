"""Videos through the CLI as a user runs it (real subprocesses): `haven hash --json VIDEO` with
`--vpdq-interval`, banking it (by value and through a python-threatexchange file), `haven match --json`
exiting 1 on a match with signal "vpdq" and its percentages, 0 on an unrelated video, 2 on a broken one."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import haven_videos as hv

HAVEN = [sys.executable, "-m", "haven.cli.main"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HAVEN_DATA_DIR": str(tmp_path / "data"),
        "HAVEN_DATABASE_URL": f"sqlite:///{tmp_path / 'haven.db'}",
        "COLUMNS": "200",
    }


def haven(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HAVEN, *args], env=env, capture_output=True, text=True, timeout=180)


def test_hash_bank_and_match_videos(env: dict[str, str], tmp_path: Path) -> None:
    base = hv.slideshow(tmp_path / "base.mp4", hv.photos(200, 5))
    clip = hv.transcode(base, tmp_path / "clip.mp4", start=3.2, end=8.6, size=(240, 180), crf=30)
    other = hv.slideshow(tmp_path / "other.mp4", hv.photos(220, 4))

    hashed = haven(env, "hash", "--json", str(base))
    assert hashed.returncode == 0, hashed.stderr
    obj = json.loads(hashed.stdout)
    assert set(obj) >= {
        "path",
        "md5",
        "sha1",
        "sha256",
        "vpdq",
        "vpdq_frame_count",
        "vpdq_frames",
        "duration",
    }
    assert (
        "pdq" not in obj and obj["vpdq_frame_count"] == 10 and obj["duration"] == pytest.approx(10, abs=0.1)
    )
    assert obj["vpdq_frames"][1] == {
        "frame": 25,
        "quality": obj["vpdq_frames"][1]["quality"],
        "pdq": obj["vpdq_frames"][1]["pdq"],
        "timestamp": 1.0,
    }
    refs = tmp_path / "refs"
    written = haven(env, "hash", "--json", "--vpdq-interval", "0", "--reference-out", str(refs), str(base))
    assert written.returncode == 0, written.stderr
    lines = (refs / "base.mp4.vpdq.txt").read_text().splitlines()
    assert len(lines) == 250 and lines[25].startswith("25,") and lines[25].endswith(",1.000")
    assert [x.count(",") for x in lines[:3]] == [3, 3, 3]  # frameNumber,quality,hash,timestamp
    # … and such a file (the reference's own, too) is a value `bank add --vpdq` takes as it is.
    assert json.loads(written.stdout)["vpdq"] == ";".join(lines)
    dense = json.loads(
        haven(env, "hash", "--json", "--vpdq-interval", "0.5", str(base)).stdout
    )  # every 12th of 250
    assert dense["vpdq_frame_count"] == 21 and dense["vpdq_frames"][1]["frame"] == 12

    assert haven(env, "bank", "create", "videos").returncode == 0
    added = haven(env, "bank", "add", "videos", "--vpdq", obj["vpdq"], "--category", "A1")
    assert added.returncode == 0 and "vpdq 10 frames" in added.stdout, added.stderr

    matched = haven(env, "match", "--json", str(clip))
    assert matched.returncode == 1, matched.stderr  # exit 1: a match
    line = json.loads(matched.stdout)
    (m,) = line["matches"]
    assert (m["signal"], m["bank"], m["category"], m["query_pct"]) == ("vpdq", "videos", "A1", 100)
    assert m["compared_pct"] < 100 and m["matched_frames"] == m["query_frames"] > 0  # (distinct frames)
    table = haven(env, "match", str(clip))
    assert table.returncode == 1 and "query 100%" in table.stdout

    clean = haven(env, "match", "--json", str(other))
    assert clean.returncode == 0 and json.loads(clean.stdout)["matches"] == [], clean.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(base.read_bytes()[:5000])
    bad = haven(env, "match", "--json", str(broken))
    assert bad.returncode == 2 and json.loads(bad.stdout)["error"]["code"] == "not_video"

    # The bank exported for python-threatexchange and imported again: the same frames, matched the same.
    out = tmp_path / "videos.csv"
    assert haven(env, "bank", "export", "videos", "-o", str(out), "--format", "pytx").returncode == 0
    (row,) = list(csv.reader(out.read_text().splitlines()))[1:]
    assert row[0] == "vpdq" and json.loads(row[1])[0].count(",") == 2
    assert haven(env, "bank", "create", "copy").returncode == 0
    imported = haven(env, "bank", "import", "copy", str(out), "--json")
    assert imported.returncode == 0 and json.loads(imported.stdout)["rows_added"] == 1, imported.stderr
    again = json.loads(haven(env, "match", "--json", str(clip)).stdout)
    assert {m["bank"] for m in again["matches"]} == {"videos", "copy"}
