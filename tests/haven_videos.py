"""Test videos made from the shared photos with PyAV (never committed): slideshows with cuts and a slow
pan, and their variants — re-encoded at another quality and frame rate, resized, trimmed, embedded in a
longer unrelated video, letterboxed. Small (a few hundred KB) and quick to make.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from haven_testdata import PHOTOS


def photos(first: int, count: int) -> list[Path]:
    """``count`` of the shared photos (JPEG and PNG, in name order) from the ``first``."""
    chosen = sorted(p for p in PHOTOS.iterdir() if p.suffix in (".jpg", ".png"))[first : first + count]
    assert len(chosen) == count, f"only {len(chosen)} shared photos from {first}"
    return chosen


def _frames(
    pictures: Sequence[Path], seconds_each: float, fps: int, size: tuple[int, int], pan: bool = False
) -> Iterator[np.ndarray]:
    """Each photo for ``seconds_each`` (a cut between photos), still or with a slow pan across it."""
    w, h = size
    per = round(seconds_each * fps)
    for pic in pictures:
        with Image.open(pic) as im:
            big = im.convert("RGB")
        scale = max(w * 1.08 / big.width, h * 1.08 / big.height)  # a slow pan: 8 % of the width
        big = big.resize((round(big.width * scale), round(big.height * scale)), Image.Resampling.BILINEAR)
        arr = np.asarray(big)
        slack_x, slack_y = arr.shape[1] - w, arr.shape[0] - h
        for k in range(per):
            x = round(slack_x * k / max(per - 1, 1)) if pan else slack_x // 2
            y = round(slack_y * 0.5)
            yield arr[y : y + h, x : x + w]


def write(
    path: Path,
    frames: Iterator[np.ndarray],
    *,
    fps: int | Fraction,
    size: tuple[int, int],
    crf: int = 23,
    codec: str = "libx264",
    letterbox: int = 0,
    gop: int | None = None,
) -> Path:
    """Encode ``frames`` (RGB, ``size``) to ``path``; ``letterbox`` adds black bars of that many pixels
    above and below (the picture squeezed into the rest)."""
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        opts = {"crf": str(crf), "preset": "veryfast"} if codec == "libx264" else {}
        if gop:
            opts["g"] = str(gop)
        stream.options = opts
        for rgb in frames:
            if letterbox:
                inner = Image.fromarray(rgb).resize((w, h - 2 * letterbox), Image.Resampling.BILINEAR)
                canvas = np.zeros((h, w, 3), np.uint8)
                canvas[letterbox : h - letterbox] = np.asarray(inner)
                rgb = canvas
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            ):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def slideshow(
    path: Path,
    pictures: Sequence[Path],
    *,
    seconds_each: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    pan: bool = False,
    **kw: object,
) -> Path:
    """A slideshow with cuts; ``pan`` moves slowly across each photo (8 % of its width) — PDQ drifts
    about 4 bits a frame on it, so 1 frame/s sampling only meets the same frames at the same phase."""
    return write(path, _frames(pictures, seconds_each, fps, size, pan), fps=fps, size=size, **kw)  # type: ignore[arg-type]


def decoded(
    path: Path, *, start: float = 0.0, end: float | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """(time, RGB) of every frame of a video between ``start`` and ``end`` seconds."""
    with av.open(str(path)) as src:
        for frame in src.decode(video=0):
            t = float(frame.time or 0.0)
            if t < start or (end is not None and t >= end):
                continue
            yield t, frame.to_ndarray(format="rgb24")


def transcode(
    src: Path,
    dst: Path,
    *,
    fps: int | None = None,
    size: tuple[int, int] | None = None,
    crf: int = 23,
    start: float = 0.0,
    end: float | None = None,
    letterbox: int = 0,
) -> Path:
    """Re-encode ``src`` (another quality, frame rate, size, a time range) to ``dst``."""
    with av.open(str(src)) as probe:
        s = probe.streams.video[0]
        src_fps, src_size = float(s.average_rate), (s.width, s.height)
    out_fps = fps or round(src_fps)
    out_size = size or src_size

    def frames() -> Iterator[np.ndarray]:
        # Frame-rate change by picking, for each output time, the latest source frame at or before it.
        clock = start
        last = None
        for t, rgb in decoded(src, start=start, end=end):
            while clock <= t + 1e-9:
                if last is not None:
                    yield last
                clock += 1 / out_fps
            last = (
                rgb
                if out_size == src_size
                else np.asarray(Image.fromarray(rgb).resize(out_size, Image.Resampling.BILINEAR))
            )
        if last is not None:
            yield last

    return write(dst, frames(), fps=out_fps, size=out_size, crf=crf, letterbox=letterbox)


def concat(dst: Path, parts: Sequence[Path], *, fps: int = 25, size: tuple[int, int] = (320, 240)) -> Path:
    """The videos one after the other (same size and rate)."""

    def frames() -> Iterator[np.ndarray]:
        for p in parts:
            for _, rgb in decoded(p):
                yield rgb

    return write(dst, frames(), fps=fps, size=size)
