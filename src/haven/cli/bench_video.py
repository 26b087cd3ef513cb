"""``haven bench video``: Haven's vPDQ against Meta's ``vpdq`` package (or PyAV + pdqhash) on the same videos
(``haven.hashing.videobench``)."""

from __future__ import annotations

from pathlib import Path

import typer

from haven.cli.common import emit_json, stdout
from haven.errors import UsageError
from haven.hashing.videobench import run_bench_video, video_files

DEFAULT_VIDEOS = (
    Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "vpdq" / "sample-videos"
)


def bench_video_command(
    videos: list[Path] = typer.Argument(
        None, help="Videos or folders (default: the vPDQ reference's samples)."
    ),
    interval: float = typer.Option(1.0, "--interval", min=0.0, help="Seconds between sampled frames."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Rounds; the best of each contender is kept."),
    peer: str = typer.Option(
        "auto",
        "--peer",
        help="binding (Meta's vpdq package) | pyav (PyAV + pdqhash) | auto (the binding when installed).",
    ),
    json_out: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Videos/s and sampled frames/s for Haven's vPDQ and the peer, one thread each, same videos, same run."""
    files = video_files(videos or [DEFAULT_VIDEOS])
    if not files:
        raise UsageError("no videos found")
    r = run_bench_video(files, interval=interval, rounds=rounds, peer=peer)
    if json_out:
        emit_json(r)
        return
    stdout.print(
        f"{r['videos']} videos ({r['bytes'] / 1e6:.1f} MB), a frame every {r['interval']:g} s, "
        f"best of {r['rounds']} rounds, 1 thread each",
        markup=False,
    )
    for c in r["contenders"]:
        stdout.print(
            f"  {c['name']:<20} {c['videos_per_s']:7.2f} videos/s {c['frames_per_s']:8.1f} frames/s"
            f"  {c['vs_peer']:.2f}x  ({c['frames']} frames)",
            markup=False,
        )
    stdout.print(
        f"  haven vs {r['peer']}: {r['frames_compared']} frames compared, mean "
        f"{r['mean_distance']} / max {r['max_distance']} bits; --fast: mean "
        f"{r['fast_mean_distance']} / max {r['fast_max_distance']} bits",
        markup=False,
    )
