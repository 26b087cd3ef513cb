"""Safe video decoding for the video signals (vPDQ): every failure becomes a typed InputError naming the
file, within bounded time and memory.

- Decoded with PyAV (FFmpeg's libraries, shipped in its wheels), one decoder thread per video: bulk
  work gets its parallelism from hashing many files at once.
- Frames are sampled as the vPDQ reference samples them (vpdq/cpp ``filehasher.cpp``): every
  ``step = int(interval · frame_rate)`` th frame (at least 1; ``interval`` 0 gives every frame), frame
  number counted from 0, time ``number / frame_rate`` with the stream's average frame rate.
- Only the frames needed are decoded: between two sampled frames the decoder is told to skip the
  frames nothing else refers to (``skip_frame = NONREF``); around each sampled time it decodes all. A
  sampled frame that is itself skippable is then still decoded, so the sampled frames are the
  reference's; frame numbers then come from presentation times (equal to the reference's count on
  constant-rate video).
- What is hashed is the frame's luma (the Y plane, scaled from limited to full range when the frame
  says it is limited), with no colour conversion: PDQ only looks at luma, and the reference's
  RGB → luma (0.299, 0.587, 0.114) of FFmpeg's BT.601 YUV → RGB gives Y back. Other pixel formats go
  through FFmpeg's conversion to RGB, as the reference does for every frame.
- ``fast`` skips FFmpeg's deblocking (loop) filter: decoding is about a quarter cheaper and the frames
  hashed are a little blockier — on the reference's sample videos at 1 frame/s, 2.4 bits from the
  reference's values on average (max 8), against 0.3–1.3 (max 4) decoding in full (docs/video.md).
- Refused from the header, before any frame is decoded: no video stream (audio only), a frame over
  ``max_pixels``, a stated duration over ``max_seconds``. While decoding: more than ``max_frames``
  frames or a frame time past ``max_seconds`` (a stream whose header lies, or an endless one), or more
  than ``max_wall_seconds`` spent (the service's upload time limit).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from haven.config import DEFAULT_MAX_VIDEO_FRAMES, DEFAULT_MAX_VIDEO_PIXELS, DEFAULT_MAX_VIDEO_SECONDS
from haven.errors import DecodeError, ImageTooLargeError, InputError
from haven.signals import VideoFrame, VideoInfo

#: Frames around a sampled time decoded in full when skipping (covers B-frame reordering jitter).
_SKIP_MARGIN = 2
#: Skipping only pays when sampled frames are this far apart.
_SKIP_MIN_STEP = 4

# Limited ("TV", 16–235) luma to full range, as FFmpeg's YUV → RGB scaling does.
_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)
_PLANAR_8BIT = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv411p",
    "yuv410p",
    "yuv440p",
    "yuvj440p",
    "nv12",
    "nv21",
    "nv16",
    "gray",
    "yuva420p",
}
_FULL_RANGE_FORMATS = {"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "gray"}
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG


@dataclass(frozen=True)
class VideoLimits:
    """Bounds on the work one video may cause (see module docstring)."""

    max_pixels: int = DEFAULT_MAX_VIDEO_PIXELS
    max_seconds: float = DEFAULT_MAX_VIDEO_SECONDS
    max_frames: int = DEFAULT_MAX_VIDEO_FRAMES
    skip: bool = True  # skip unreferenced frames between sampled ones
    max_wall_seconds: float | None = None  # give up (``hash_timeout``) after this long decoding


def _av() -> Any:
    import av  # FFmpeg's libraries: imported only when a video is met

    av.logging.set_level(av.logging.PANIC)  # FFmpeg's own chatter about damaged streams stays quiet
    return av


def _errors(av: Any) -> tuple[type[BaseException], ...]:
    return (
        av.FFmpegError,
        OSError,
        ValueError,
        EOFError,
        IndexError,
        KeyError,
        TypeError,
        ZeroDivisionError,
        MemoryError,
        RuntimeError,
        OverflowError,
        UnicodeDecodeError,
    )


class VideoDecoder:
    """One opened video: ``info`` from its header, then ``frames(interval)`` yields the sampled frames.
    Use as a context manager (the container is closed on exit)."""

    def __init__(
        self,
        source: str | Path | BinaryIO,
        *,
        label: str,
        limits: VideoLimits = VideoLimits(),
        fast: bool = False,
    ) -> None:
        self.label = label
        self.limits = limits
        self.fast = fast
        self._av = av = _av()
        try:
            self.container = av.open(
                source if not isinstance(source, Path) else str(source), mode="r", metadata_errors="ignore"
            )
        except _errors(av) as exc:
            raise DecodeError(f"not a readable video: {_why(exc)}", path=label, code="not_video") from exc
        try:
            self.info = self._check_header()
        except BaseException:
            self.container.close()
            raise

    def __enter__(self) -> VideoDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    def _check_header(self) -> VideoInfo:
        label, limits = self.label, self.limits
        streams = self.container.streams.video
        if not streams:
            kinds = sorted({s.type for s in self.container.streams}) or ["none"]
            raise DecodeError(
                f"no video stream (streams: {', '.join(kinds)})", path=label, code="no_video_stream"
            )
        self.stream = stream = streams[0]
        cc = stream.codec_context
        width, height = int(cc.width or 0), int(cc.height or 0)
        if width <= 0 or height <= 0:
            raise DecodeError(f"invalid frame size {width}x{height}", path=label, code="corrupt")
        if width * height > limits.max_pixels:
            raise ImageTooLargeError(
                f"{width}x{height} = {width * height} pixels a frame exceeds the video limit of "
                f"{limits.max_pixels}",
                path=label,
                code="frame_too_large",
            )
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if not 0 < fps < 10_000:
            raise DecodeError(f"no usable frame rate ({rate})", path=label, code="corrupt")
        duration = None
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif self.container.duration is not None:
            duration = self.container.duration / 1_000_000
        if duration is not None and duration > limits.max_seconds:
            raise ImageTooLargeError(
                f"{duration:.0f} s long, over the video limit of {limits.max_seconds:.0f} s",
                path=label,
                code="video_too_long",
            )
        cc.thread_count = 1
        stream.thread_type = "NONE"
        if self.fast:
            cc.options = {"skip_loop_filter": "all"}  # read when the decoder opens, at the first packet
        return VideoInfo(width=width, height=height, frame_rate=fps, duration=duration)

    def frames(self, interval: float) -> Iterator[VideoFrame]:
        """The sampled frames, in order (``interval`` seconds apart; 0: every frame)."""
        if interval < 0:
            raise ValueError("the frame interval must be 0 or more seconds")
        try:
            yield from self._frames(interval)
        except InputError:
            raise
        except _errors(self._av) as exc:
            raise DecodeError(
                f"video stream damaged or truncated: {_why(exc)}", path=self.label, code="truncated"
            ) from exc

    def _frames(self, interval: float) -> Iterator[VideoFrame]:
        stream, info, limits = self.stream, self.info, self.limits
        fps = info.frame_rate
        step = max(1, int(interval * fps))
        skip = limits.skip and step >= _SKIP_MIN_STEP
        cc = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else 0.0
        skip = skip and tb > 0
        origin = stream.start_time
        mode = "DEFAULT"
        count = 0  # frames the decoder gave
        wanted = 0  # number of the next frame to sample
        deadline = None if limits.max_wall_seconds is None else time.monotonic() + limits.max_wall_seconds
        for packet in self.container.demux(stream):
            if skip and packet.pts is not None:
                if origin is None:
                    origin = packet.pts
                near = round((packet.pts - origin) * tb * fps) >= wanted - _SKIP_MARGIN
                want = "DEFAULT" if near else "NONREF"
                if want != mode:
                    cc.skip_frame = mode = want
            for frame in packet.decode():
                count += 1
                if skip and frame.pts is not None and origin is not None:
                    number = round((frame.pts - origin) * tb * fps)
                else:
                    number = count - 1
                if count > limits.max_frames or number / fps > limits.max_seconds:
                    raise ImageTooLargeError(
                        f"more than {limits.max_frames} frames or {limits.max_seconds:.0f} s decoded "
                        "(the video limits)",
                        path=self.label,
                        code="video_too_long",
                    )
                if deadline is not None and time.monotonic() > deadline:
                    raise InputError(
                        f"decoding took longer than {limits.max_wall_seconds:g} s",
                        path=self.label,
                        code="hash_timeout",
                    )
                if number < wanted:
                    continue
                yield VideoFrame(number=number, timestamp=number / fps, luma=_luma(frame), rgb=_rgb_of(frame))
                wanted = (number // step + 1) * step


def _luma(frame: Any) -> np.ndarray:
    """The frame's luma, full range (H×W uint8); or its RGB (H×W×3) for formats without a usable Y plane."""
    fmt = frame.format.name
    if fmt in _PLANAR_8BIT:
        plane = frame.planes[0]
        y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        if fmt in _FULL_RANGE_FORMATS or frame.color_range == _JPEG_RANGE:
            return np.ascontiguousarray(y)
        return _LIMITED_TO_FULL[y]
    return np.asarray(frame.to_ndarray(format="rgb24"))


def _rgb_of(frame: Any) -> Any:
    return lambda: np.asarray(frame.to_ndarray(format="rgb24"))


def _why(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return str(text)[:200]


def open_video(
    source: str | Path | bytes | BinaryIO,
    *,
    label: str,
    limits: VideoLimits = VideoLimits(),
    fast: bool = False,
) -> VideoDecoder:
    """Open a video (a path, bytes or a binary file object) for ``VideoDecoder.frames`` (``fast``: without
    the deblocking filter, see the module docstring)."""
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    return VideoDecoder(source, label=label, limits=limits, fast=fast)


def keyframes(
    source: str | Path | bytes | BinaryIO, *, label: str, count: int = 4, limits: VideoLimits = VideoLimits()
) -> list[np.ndarray]:
    """Up to ``count`` key frames (RGB) spread over the video, for a report's (blurred) strip: a seek to
    each spot and the first key frame there; only the video stream is read, never sound."""
    out: list[np.ndarray] = []
    seen: set[int] = set()
    with open_video(source, label=label, limits=limits) as video:
        stream, container = video.stream, video.container
        stream.codec_context.skip_frame = "NONKEY"
        duration = video.info.duration or 0.0
        try:
            for k in range(count):
                if duration and stream.time_base:
                    target = int(duration * (k + 0.5) / count / float(stream.time_base))
                    container.seek(target + (stream.start_time or 0), stream=stream, backward=True)
                frame = next(iter(container.decode(stream)), None)
                if frame is not None and (frame.pts or 0) not in seen:
                    seen.add(frame.pts or 0)
                    out.append(np.asarray(frame.to_ndarray(format="rgb24")))
                if not duration:
                    break
        except _errors(video._av) as exc:
            if not out:
                raise DecodeError(f"no frame to show: {_why(exc)}", path=label, code="truncated") from exc
    return out
