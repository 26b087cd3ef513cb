"""Video hashing: the vPDQ reference reproduced on its own sample videos, sampling, which signals a video
gets, and malformed videos giving error records within bounded time (generated with PyAV, never committed).
"""

from __future__ import annotations

import io
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import haven_videos as hv
from haven.errors import DecodeError, FileAccessError, ImageTooLargeError, InputError
from haven.hashing import hash_bytes, hash_file
from haven.hashing.video import VideoLimits
from haven.signals import Input, VpdqSignal, all_signals
from haven_testdata import SHARED

REF = SHARED / "reference" / "vpdq"
SAMPLES = sorted(p.stem for p in (REF / "sample-videos").glob("*.mp4"))
TOLERANCE, QUALITY = (
    31,
    50,
)  # the reference's regression tolerance (vpdq/python/tests, regtest.py -t 31 -q 50)


def reference(name: str) -> list[list[str]]:
    return [line.split(",") for line in (REF / "sample-hashes" / f"{name}.txt").read_text().splitlines()]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_frame_agrees_with_the_reference_sample_hashes(name: str) -> None:
    """At every-frame sampling, Haven's frames are the reference's: same count, numbers and times, and each
    frame of quality >= 50 within 31 bits (the reference's own tolerance across FFmpeg builds)."""
    ref = reference(name)
    got = VpdqSignal.frames(
        hash_file(REF / "sample-videos" / f"{name}.mp4", ("vpdq",), frame_interval=0).hashes["vpdq"]
    )
    assert len(got) == len(ref)
    dists = []
    for f, (number, quality, hex_, seconds) in zip(got, ref, strict=True):
        assert f.number == int(number) and f.timestamp == pytest.approx(float(seconds), abs=0.0015)
        if int(quality) >= QUALITY and f.quality >= QUALITY:
            d = (int(f.hash, 16) ^ int(hex_, 16)).bit_count()
            assert d <= TOLERANCE, (name, number, d)
            dists.append(d)
        assert abs(f.quality - int(quality)) <= 5
    assert dists, "no frame of quality >= 50 to compare"
    print(f"{name}: {len(dists)} frames compared, mean distance {np.mean(dists):.2f}, max {max(dists)}")


def test_one_frame_a_second_is_the_reference_sampling() -> None:
    """At the default 1 s the sampled frames are the reference's every int(1 s × 30 fps) = 30th frame."""
    name = "pattern-hd-no-bar"
    ref = reference(name)
    got = VpdqSignal.frames(hash_file(REF / "sample-videos" / f"{name}.mp4", ("vpdq",)).hashes["vpdq"])
    assert [f.number for f in got] == [int(r[0]) for r in ref if int(r[0]) % 30 == 0]
    for f in got:
        assert (int(f.hash, 16) ^ int(ref[f.number][2], 16)).bit_count() <= TOLERANCE


def test_skipping_unreferenced_frames_samples_the_same_frames(tmp_path: Path) -> None:
    """The decoder skips frames nothing refers to between sampled ones; the sampled frames and their hashes
    are those of a full decode."""
    video = hv.slideshow(tmp_path / "v.mp4", hv.photos(0, 4))
    full = hash_file(video, ("vpdq",), video_limits=VideoLimits(skip=False)).hashes["vpdq"]
    skipping = hash_file(video, ("vpdq",)).hashes["vpdq"]
    assert skipping == full


def test_a_video_gets_its_byte_and_video_signals(tmp_path: Path) -> None:
    video = hv.slideshow(tmp_path / "v.mp4", hv.photos(0, 3), seconds_each=1.0)
    r = hash_file(video)
    # Its byte signals and its video signals (registered plug-ins included), never an image's.
    assert set(r.hashes) == {s.name for s in all_signals() if s.input in (Input.BYTES, Input.VIDEO)}
    assert {"md5", "sha1", "sha256", "vpdq"} <= set(r.hashes)
    out = r.to_dict()
    assert out["vpdq_frame_count"] == 3 and out["duration"] == pytest.approx(3.0, abs=0.1)
    assert out["width"] == 320 and out["height"] == 240 and out["frame_rate"] == 25
    assert [f["frame"] for f in out["vpdq_frames"]] == [0, 25, 50]
    assert hash_bytes(video.read_bytes(), "same").hashes == r.hashes  # from memory: the same values
    # A photo gets its image signals, never a video's.
    photo = hv.photos(0, 1)[0]
    image = {s.name for s in all_signals() if s.input in (Input.BYTES, Input.IMAGE)}
    assert set(hash_file(photo).hashes) == image
    with pytest.raises(DecodeError) as exc:
        hash_file(video, ("pdq",))
    assert exc.value.code == "not_image"
    with pytest.raises(DecodeError) as exc:
        hash_file(photo, ("vpdq",))
    assert exc.value.code == "not_video"


def test_interval_sets_the_sampling(tmp_path: Path) -> None:
    video = hv.slideshow(tmp_path / "v.mp4", hv.photos(0, 2), seconds_each=2.0)
    numbers = [
        [f.number for f in VpdqSignal.frames(hash_file(video, ("vpdq",), frame_interval=i).hashes["vpdq"])]
        for i in (0.5, 2.0, 0)
    ]
    assert numbers[0] == list(range(0, 100, 12))  # int(0.5 × 25) = 12
    assert numbers[1] == [0, 50]
    assert numbers[2] == list(range(100))


# -- malformed videos: error records, quickly ---------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return hv.slideshow(tmp_path_factory.mktemp("v") / "good.mp4", hv.photos(0, 3)).read_bytes()


def faststart(data: bytes, tmp_path: Path) -> bytes:
    """The same video with its index (moov) before the frames, as streaming sites write it."""
    src_path, dst_path = tmp_path / "src.mp4", tmp_path / "fs.mp4"
    src_path.write_bytes(data)
    with av.open(str(src_path)) as src, av.open(str(dst_path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst_path.read_bytes()


def audio_only() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        for k in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, k * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def flipped(data: bytes, count: int, seed: int) -> bytes:
    out = bytearray(data)
    for i in np.random.default_rng(seed).integers(2000, len(out) - 100, count):
        out[i] ^= 0xFF
    return bytes(out)


def expect(data: bytes, error: type[InputError], codes: set[str], **kw: object) -> None:
    start = time.monotonic()
    with pytest.raises(error) as exc:
        hash_bytes(data, "bad.mp4", **kw)  # type: ignore[arg-type]
    assert exc.value.code in codes and exc.value.path == "bad.mp4", exc.value
    assert time.monotonic() - start < 10


def test_zero_length(good: bytes) -> None:
    expect(b"", FileAccessError, {"empty"}, algorithms=("vpdq",))


def test_truncated(good: bytes, tmp_path: Path) -> None:
    expect(good[: len(good) // 2], DecodeError, {"not_video"})  # the index was at the end: gone
    fast = faststart(good, tmp_path)
    assert hash_bytes(fast, "whole.mp4").hashes["vpdq"]
    expect(fast[: len(fast) // 2], DecodeError, {"truncated"})  # index first, frames cut off


def test_corrupt(good: bytes) -> None:
    expect(good[:32] + bytes(2000) + good[2032:], DecodeError, {"not_video", "truncated"})
    expect(flipped(good, 300, seed=1), DecodeError, {"truncated", "not_video"})
    expect(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, DecodeError, {"not_video"})


def test_audio_only() -> None:
    expect(audio_only(), DecodeError, {"no_video_stream"})


def test_enormous_resolution_is_refused_from_the_header(tmp_path: Path) -> None:
    """A 9000×5000 frame (45 MP, over the 8K default) is refused before a frame is decoded."""
    path = tmp_path / "huge.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 9000, 5000, "yuvj420p"
        frame = av.VideoFrame(9000, 5000, "yuvj420p")
        for plane in frame.planes:
            np.frombuffer(plane, np.uint8)[:] = 128
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    expect(path.read_bytes(), ImageTooLargeError, {"frame_too_large"})
    expect(
        hv.slideshow(tmp_path / "s.mp4", hv.photos(0, 1), seconds_each=0.2).read_bytes(),
        ImageTooLargeError,
        {"frame_too_large"},
        video_limits=VideoLimits(max_pixels=320 * 239),
    )


def test_very_long_streams_are_capped(tmp_path: Path) -> None:
    """Six frames an hour apart: a six-hour video by its header, refused before decoding; and caps on frames
    and seconds while decoding stop a stream whose header says less than it holds."""
    frames = iter([np.full((240, 320, 3), 40 * k, np.uint8) for k in range(6)])
    long = hv.write(tmp_path / "long.mp4", frames, fps=Fraction(1, 3600), size=(320, 240))
    expect(long.read_bytes(), ImageTooLargeError, {"video_too_long"})
    video = hv.slideshow(tmp_path / "v.mp4", hv.photos(0, 3)).read_bytes()
    expect(video, ImageTooLargeError, {"video_too_long"}, video_limits=VideoLimits(max_seconds=4))
    # An MPEG-TS stream carries no duration in a header: the decode-time caps stop it.
    ts = tmp_path / "v.ts"
    src = tmp_path / "v.mp4"
    src.write_bytes(video)
    with av.open(str(src)) as s, av.open(str(ts), "w", format="mpegts") as out:
        stream = out.add_stream_from_template(s.streams.video[0])
        for packet in s.demux(s.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    expect(
        ts.read_bytes(),
        ImageTooLargeError,
        {"video_too_long"},
        video_limits=VideoLimits(max_frames=40, max_seconds=10_000),
    )
