"""`haven bench video` runs Haven and a peer on the same videos and reports what it measured."""

from __future__ import annotations

from pathlib import Path

import pytest

import haven_videos as hv
from haven.hashing.videobench import run_bench_video


@pytest.mark.parametrize("peer", ["pyav", "auto"])
def test_bench_video_measures_both_on_the_same_frames(tmp_path: Path, peer: str) -> None:
    video = hv.slideshow(tmp_path / "v.mp4", hv.photos(0, 3), pan=True)
    r = run_bench_video([video], interval=1.0, rounds=1, peer=peer)
    names = [c["name"] for c in r["contenders"]]
    assert names[1:] == ["haven", "haven --fast", "haven (no skip)"]
    assert all(c["frames"] == 6 and c["videos_per_s"] > 0 for c in r["contenders"])
    assert r["contenders"][0]["vs_peer"] == 1.0
    # The peer samples the same frames (every 25th) and hashes them within a few bits of Haven.
    assert r["frames_compared"] >= 5 and r["max_distance"] <= 16
