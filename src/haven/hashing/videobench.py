"""``haven bench video``: Haven's vPDQ against Meta's ``vpdq`` package on the same videos, in the same run.

Contenders, each single-threaded, interleaved in rounds over the same files (page cache warmed), the best
round of each kept (the machine is shared and noisy):

- ``haven``: ``hash_file(path, ("vpdq",), frame_interval=…)`` — one decoder thread, unreferenced frames
  skipped between sampled ones, luma straight from the Y plane, the PDQ kernel.
- ``haven --fast``: the same without FFmpeg's deblocking filter (a few bits off, ``hashing/video.py``).
- ``haven (no skip)``: ``haven`` with every frame decoded, to show what the skipping buys.
- ``vpdq``: ``vpdq.computeHash(path, seconds_per_hash=…, thread_count=1)`` (the C++ reference binding,
  built from source against the system's FFmpeg) when it is installed;
- else ``PyAV + pdqhash``: every frame decoded by PyAV (one thread), each sampled frame converted to RGB
  and hashed with ``pdqhash.compute`` — what a Python service would write without the binding.

Reported per contender: videos/s and sampled frames/s; and how far Haven's frames are from the peer's
(mean and max Hamming distance over the frames both sampled, quality >= 50 on both sides).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haven.errors import UsageError
from haven.hashing.files import hash_file
from haven.hashing.video import VideoLimits
from haven.signals.vpdq import VpdqSignal

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".ts", ".flv", ".wmv", ".mpg"}
#: A frame's (number, pdq hex, quality).
Frames = list[tuple[int, str, int]]


@dataclass
class Contender:
    name: str
    run: Callable[[Path, float], Frames]
    best: float = float("inf")
    frames: int = 0
    out: dict[Path, Frames] | None = None


def _haven(skip: bool, fast: bool = False) -> Callable[[Path, float], Frames]:
    limits = VideoLimits(skip=skip)

    def run(path: Path, interval: float) -> Frames:
        value = hash_file(path, ("vpdq",), frame_interval=interval, video_limits=limits, fast=fast).hashes[
            "vpdq"
        ]
        return [(f.number or 0, f.hash, f.quality) for f in VpdqSignal.frames(value)]

    return run


def _vpdq_package() -> Callable[[Path, float], Frames] | None:
    try:
        import vpdq
    except ImportError:
        return None

    def run(path: Path, interval: float) -> Frames:
        return [
            (f.frame_number, f.hex, f.quality)
            for f in vpdq.computeHash(str(path), seconds_per_hash=interval, thread_count=1)
        ]

    return run


def _pyav_pdqhash() -> Callable[[Path, float], Frames] | None:
    try:
        import av
        import numpy as np
        import pdqhash
    except ImportError:
        return None

    def run(path: Path, interval: float) -> Frames:
        out = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            rate = stream.average_rate or stream.base_rate
            step = max(1, int(interval * float(rate or 0)))
            for n, frame in enumerate(container.decode(stream)):
                if n % step == 0:
                    bits, quality = pdqhash.compute(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
                    out.append(
                        (n, "{:064x}".format(int("".join(str(int(b)) for b in bits), 2)), int(quality))
                    )
        return out

    return run


def _distances(ours: dict[Path, Frames], theirs: dict[Path, Frames]) -> list[int]:
    dists = []
    for path, frames in ours.items():
        peer = {n: (h, q) for n, h, q in theirs.get(path, [])}
        for n, h, q in frames:
            if n in peer and q >= 50 and peer[n][1] >= 50:
                dists.append((int(h, 16) ^ int(peer[n][0], 16)).bit_count())
    return dists


def run_bench_video(
    videos: list[Path], *, interval: float = 1.0, rounds: int = 3, peer: str = "auto"
) -> dict[str, Any]:
    """Measure (see module docstring); ``peer``: "binding" (Meta's vpdq package), "pyav" or "auto" (the
    binding when installed)."""
    if not videos:
        raise UsageError("no videos to measure")
    package = _vpdq_package() if peer in ("auto", "binding") else None
    fallback = _pyav_pdqhash() if package is None and peer in ("auto", "pyav") else None
    if peer == "binding" and package is None:
        raise UsageError(
            "the peer `vpdq` is not installed: pip install 'haven[bench-video]' (needs FFmpeg's "
            "development packages)"
        )
    if package is None and fallback is None:
        raise UsageError("no peer installed: pip install 'haven[bench-video]' or 'haven[bench]' (pdqhash)")
    peer_name = "vpdq (C++ binding)" if package is not None else "PyAV + pdqhash"
    contenders = [
        Contender(peer_name, package or fallback),  # type: ignore[arg-type]
        Contender("haven", _haven(True)),
        Contender("haven --fast", _haven(True, fast=True)),
        Contender("haven (no skip)", _haven(False)),
    ]
    for v in videos:
        v.read_bytes()  # warm the page cache
    for _ in range(rounds):
        for c in contenders:
            out: dict[Path, Frames] = {}
            start = time.perf_counter()
            for v in videos:
                out[v] = c.run(v, interval)
            elapsed = time.perf_counter() - start
            if elapsed < c.best:
                c.best, c.out = elapsed, out
                c.frames = sum(len(f) for f in out.values())
    base = contenders[0]
    assert base.out is not None and contenders[1].out is not None
    dists = _distances(contenders[1].out, base.out)
    assert contenders[2].out is not None
    fast_dists = _distances(contenders[2].out, base.out)
    return {
        "videos": len(videos),
        "bytes": sum(v.stat().st_size for v in videos),
        "interval": interval,
        "rounds": rounds,
        "peer": peer_name,
        "contenders": [
            {
                "name": c.name,
                "seconds": round(c.best, 3),
                "videos_per_s": round(len(videos) / c.best, 3),
                "frames": c.frames,
                "frames_per_s": round(c.frames / c.best, 2),
                "vs_peer": round(base.best / c.best, 2),
            }
            for c in contenders
        ],
        "frames_compared": len(dists),
        "mean_distance": round(sum(dists) / len(dists), 2) if dists else None,
        "max_distance": max(dists) if dists else None,
        "fast_mean_distance": round(sum(fast_dists) / len(fast_dists), 2) if fast_dists else None,
        "fast_max_distance": max(fast_dists) if fast_dists else None,
    }


def video_files(paths: list[Path]) -> list[Path]:
    """The videos among ``paths`` (folders searched, by suffix), sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in VIDEO_SUFFIXES and q.is_file())
        elif p.is_file():
            out.append(p)
    return out
