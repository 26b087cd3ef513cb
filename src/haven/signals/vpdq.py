"""vPDQ: Meta's video hash — the PDQ of frames sampled every ``frame_interval`` seconds, each with its
quality, frame number and time — matched as a bag of frames (``haven.signals.frames``).

Canonical value: the frames in video order, ``;``-separated, each ``number,quality,pdq_hex,seconds`` —
the reference's line format (vpdq/cpp ``vpdqio.cpp``: ``frameNumber,quality,hash,timestamp``) on one line,
the time with its 3 decimals. ``validate`` also reads the reference's lines themselves (one frame a line)
and python-threatexchange's JSON form (a list of ``"pdq_hex,quality,timestamp"`` strings, where the
frame number is not given: it is left empty, ``,100,e271…,1.000``); ``to_external`` writes that JSON
form for python-threatexchange and HMA. Facts: ../shared/reference/vpdq/README.md.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

from haven.errors import FormatError
from haven.signals.base import (
    HashOptions,
    Input,
    LookupKind,
    SignalHash,
    SignalType,
    VideoFrame,
    VideoHasher,
    VideoInfo,
)
from haven.signals.frames import Frame, FrameSetSignal
from haven.signals.pdq import PDQ_MATCH_THRESHOLD, PdqSignal

#: Most frames one value may hold: 5.5 hours at 1 frame/s (the longest video hashed by default is shorter).
MAX_FRAMES = 20_000
_FRAME = r"(?:0|[1-9][0-9]{0,9})?,(?:100|[1-9]?[0-9]),[0-9a-f]{64},(?:0|[1-9][0-9]{0,8})\.[0-9]{3}"
_LINE_NUMBER = re.compile(r"\d{1,10}")
_RAW = struct.Struct(">IB32sI")  # number (0xFFFFFFFF: none), quality, hash, milliseconds
_NO_NUMBER = 0xFFFFFFFF


def _bad(value: object, why: str) -> FormatError:
    return FormatError(f"not a valid vPDQ value ({why}): {value!r:.80}")


def _frame(number: int | None, quality: object, hex_: object, seconds: object, value: object) -> Frame:
    try:
        h = PdqSignal.validate(hex_) if isinstance(hex_, str) else ""
        q = int(quality) if isinstance(quality, int | str) else -1
        t = float(seconds) if isinstance(seconds, int | float | str) else -1.0
    except (FormatError, ValueError):
        raise _bad(value, "a frame is not quality, 64 hex digits and seconds") from None
    if not h or not 0 <= q <= 100 or not math.isfinite(t) or not 0 <= t < 1e9:
        raise _bad(value, "a frame's hash, quality (0-100) or time is out of range")
    return Frame(h, q, round(t, 3), number)


def _format(frames: list[Frame]) -> str:
    return ";".join(
        f"{'' if f.number is None else f.number},{f.quality},{f.hash},{f.timestamp:.3f}" for f in frames
    )


class VpdqSignal(FrameSetSignal, VideoHasher, SignalType):
    name = "vpdq"
    lookup = LookupKind.FRAMES
    input = Input.VIDEO
    frame_signal = PdqSignal
    default_threshold = PDQ_MATCH_THRESHOLD  # per frame, like PDQ's
    max_threshold = PdqSignal.max_threshold
    canonical = re.compile(f"{_FRAME}(?:;{_FRAME})*")
    max_length = MAX_FRAMES * 91  # the longest frame: 10-digit number, quality 100, 9-digit seconds
    description = (
        "vPDQ video hash: PDQ of sampled frames (number,quality,hex,seconds;…), matched as a frame set"
    )
    in_tables = False
    aliases = {"pytx": "vpdq", "hma": "vpdq"}

    # -- values ------------------------------------------------------------------------------------------

    @classmethod
    def validate(cls, value: str) -> str:
        return _format(cls._parse(value))

    @classmethod
    def _parse(cls, value: object) -> list[Frame]:
        v = value.strip() if isinstance(value, str) else ""
        if not v:
            raise _bad(value, "empty")
        if v.startswith("["):  # python-threatexchange: ["pdq_hex,quality,timestamp", …]
            try:
                items = json.loads(v)
            except ValueError:
                raise _bad(value, "invalid JSON") from None
            if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                raise _bad(value, 'want a JSON list of "pdq_hex,quality,timestamp" strings')
            frames = []
            for s in items:
                parts = s.split(",")
                if len(parts) != 3:
                    raise _bad(value, 'want "pdq_hex,quality,timestamp"')
                frames.append(_frame(None, parts[1].strip(), parts[0].strip(), parts[2].strip(), value))
        elif "\n" in v:  # the reference's file: frameNumber,quality,hash,timestamp per line
            frames = []
            for line in v.splitlines():
                parts = [p.strip() for p in line.split(",")]
                if parts == [""]:
                    continue
                if len(parts) < 4 or not _LINE_NUMBER.fullmatch(parts[0]):
                    raise _bad(value, "want frameNumber,quality,hash,timestamp lines")
                frames.append(_frame(int(parts[0]), parts[1], parts[2], parts[3], value))
        else:  # the canonical form, strictly (any letter case)
            low = v.lower()
            if not cls.canonical.fullmatch(low):
                raise _bad(value, "want number,quality,pdq_hex,seconds;… with 3 decimals")
            frames = [
                Frame(p[2], int(p[1]), float(p[3]), int(p[0]) if p[0] else None)
                for p in (f.split(",") for f in low.split(";"))
            ]
        if not frames:
            raise _bad(value, "no frames")
        if len(frames) > MAX_FRAMES:
            raise _bad(value, f"{len(frames)} frames, more than {MAX_FRAMES}")
        return frames

    @classmethod
    def frames(cls, value: str) -> list[Frame]:
        return cls._parse(value)

    @classmethod
    def encode(cls, value: str) -> bytes:
        return b"".join(
            _RAW.pack(
                _NO_NUMBER if f.number is None else f.number,
                f.quality,
                bytes.fromhex(f.hash),
                round(f.timestamp * 1000),
            )
            for f in cls._parse(value)
        )

    @classmethod
    def decode(cls, raw: bytes) -> str:
        if not raw or len(raw) % _RAW.size:
            raise _bad(raw, f"want a multiple of {_RAW.size} bytes")
        frames = [
            Frame(h.hex(), q, ms / 1000, None if n == _NO_NUMBER else n)
            for n, q, h, ms in _RAW.iter_unpack(raw)
        ]
        return cls.validate(_format(frames))

    @classmethod
    def examples(cls) -> list[str]:
        # Frames 0, 30 and 60 of the reference's sample hashes (../shared/reference/vpdq/sample-hashes):
        # pattern-sd-grey-bar.txt and doorknob-hd-no-bar.txt — two unrelated videos; then the first
        # video's frames as python-threatexchange gives them (no frame numbers).
        a = (
            (0, 100, "b2dc981be36c994787bc16811edcda81d20b855627b6bff86e8ba1050b44ff86"),
            (30, 100, "92de981be52e894783bc92854edcda89f24b955627b6dff82a8b81052554dbc6"),
            (60, 100, "c0a3efc9a963f0a91e9a62392afc65013ba5421f529aafb9af4fa013157467e2"),
        )
        b = (
            (0, 100, "dadb999c25266273529cadac89cb52c22324ad3bce99726c38668d93c799f07c"),
            (30, 68, "c8feb0fc73110f830fc6307cf039e7030fc61b9cf8717cf80fce00070003fffe"),
            (60, 0, "4da49ca73898c6b76ef2a43609b6879876de6a35d1c22b4c13f0cb0ecfc33278"),
        )
        return [
            ";".join(f"{n},{q},{h},{n / 30:.3f}" for n, q, h in a),
            ";".join(f"{n},{q},{h},{n / 30:.3f}" for n, q, h in b),
            ";".join(f",{q},{h},{n / 30:.3f}" for n, q, h in a),
        ]

    # -- outputs -----------------------------------------------------------------------------------------

    @classmethod
    def value_output(cls, value: str) -> dict[str, Any]:
        frames = cls._parse(value)
        return {
            "vpdq_frame_count": len(frames),
            "vpdq_frames": [
                {"frame": f.number, "quality": f.quality, "pdq": f.hash, "timestamp": f.timestamp}
                for f in frames
            ],
        }

    @classmethod
    def short_value(cls, value: str) -> str:
        frames = cls._parse(value)
        return f"{len(frames)} frames, {frames[0].hash[:16]}…"

    @classmethod
    def to_external(cls, system: str, value: str) -> str:
        """python-threatexchange's (and HMA's) form: a JSON list of ``"pdq_hex,quality,timestamp"``."""
        return json.dumps([f"{f.hash},{f.quality},{f.timestamp:.3f}" for f in cls._parse(value)])

    @classmethod
    def reference_file(cls, value: str) -> str:
        return cls.to_reference_lines(value)

    @classmethod
    def to_reference_lines(cls, value: str) -> str:
        """The reference's file (``frameNumber,quality,hash,timestamp`` lines); frames whose number is not
        known are numbered by their position."""
        return "".join(
            f"{k if f.number is None else f.number},{f.quality},{f.hash},{f.timestamp:.3f}\n"
            for k, f in enumerate(cls._parse(value))
        )

    # -- hashing -----------------------------------------------------------------------------------------

    @classmethod
    def new_video_hasher(cls, info: VideoInfo, options: HashOptions) -> _Accumulator:
        return _Accumulator()


class _Accumulator:
    """PDQ of each sampled frame's luma, through the bit-exact kernel."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def add(self, frame: VideoFrame) -> None:
        from haven.hashing.pdq import pdq_from_pixels

        pdq = pdq_from_pixels(frame.luma)
        self.frames.append(Frame(pdq.hash, pdq.quality, round(frame.timestamp, 3), frame.number))

    def finish(self) -> SignalHash:
        if not self.frames:
            raise FormatError("the video gave no frame to hash", code="no_frames")
        if len(self.frames) > MAX_FRAMES:
            raise FormatError(
                f"{len(self.frames)} sampled frames, more than a vPDQ value holds ({MAX_FRAMES})",
                code="too_many_frames",
            )
        return SignalHash(_format(self.frames))
