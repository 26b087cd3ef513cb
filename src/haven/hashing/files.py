"""Hash one file (or in-memory bytes) with every requested signal: the core of `haven hash`, the
service's uploads, triage's workers and `haven match`.

One read of the bytes feeds every byte signal (MD5, SHA-1, SHA-256 …); one decode feeds every image
signal (PDQ …), or, when the content is a video (by its first bytes), every video signal (vPDQ …) from
one pass over its sampled frames (``haven.hashing.video``). Which signals exist, and how each computes
its value, is the signal registry's business (``haven.signals``): nothing here knows a signal by name.
Asked for every signal (the default), a file gets its byte signals and those of its kind of media.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from haven.config import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS
from haven.errors import DecodeError, FileAccessError, ImageTooLargeError, InputError, UsageError
from haven.hashing.crypto import stream_digests
from haven.hashing.decode import decode_cost, load_pixels, open_image
from haven.hashing.video import VideoLimits, open_video
from haven.media.sniff import HEADER_BYTES, kind_of, sniff
from haven.signals import (
    BytesHasher,
    DecodedImage,
    HashOptions,
    ImageHasher,
    Input,
    SignalType,
    Variant,
    VideoHasher,
    all_signals,
    get_signal,
)


def algorithm_names() -> tuple[str, ...]:
    """Every signal a file can be hashed with here (bytes, image and video signals), in registry order."""
    return tuple(s.name for s in all_signals() if s.input in (Input.BYTES, Input.IMAGE, Input.VIDEO))


@dataclass
class HashResult:
    """Everything Haven computed for one input. Absent values are left out (never ``""``)."""

    path: str
    hashes: dict[str, str] = field(default_factory=dict)  # signal name → canonical value
    quality: dict[str, int] = field(default_factory=dict)  # for signals that rate their value
    variants: dict[str, tuple[Variant, ...]] = field(default_factory=dict)  # extra look-up values
    width: int | None = None
    height: int | None = None
    size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, signal: str) -> str | None:
        return self.hashes.get(signal)

    def values(self) -> dict[str, Any]:
        """Each signal's value, followed by its quality where it has one (JSON object members)."""
        out: dict[str, Any] = {}
        for name, value in self.hashes.items():
            out[name] = value
            if name in self.quality:
                out[get_signal(name).quality_key()] = self.quality[name]
        return out

    def low_quality(self) -> bool:
        """True when a value's quality is under its signal's floor (a flat image says little)."""
        for name, q in self.quality.items():
            floor = get_signal(name).min_quality
            if floor is not None and q < floor:
                return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """The `haven hash --json` object: each value (and its quality), the image size, the file size,
        then the variants, in the shape each signal defines (keys with no value are left out)."""
        out: dict[str, Any] = {"path": self.path, **self.values()}
        signals = [get_signal(name) for name in self.hashes]
        for key in ("width", "height", "size"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for sig in signals:
            if self.variants.get(sig.name):
                out.update(sig.variants_output(self.hashes[sig.name], self.variants[sig.name]))
        out.update(self.extra)
        for sig in signals:  # long descriptions (a video's frames) last
            out.update(sig.value_output(self.hashes[sig.name]))
        return out


def parse_algorithms(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"pdq,md5"`` → ``("pdq", "md5")``, in registry order; unknown names are a UsageError."""
    known = algorithm_names()
    if spec is None:
        return known
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        raise UsageError(f"unknown hash algorithm(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(known)}")
    return tuple(a for a in known if a in names)


def _check_regular_file(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise FileAccessError("no such file", path=path, code="not_found") from exc
    except PermissionError as exc:
        raise FileAccessError("permission denied", path=path, code="permission_denied") from exc
    except OSError as exc:
        raise FileAccessError(f"cannot stat: {exc.strerror}", path=path, code="unreadable") from exc
    if stat.S_ISDIR(st.st_mode):
        raise FileAccessError("is a directory, not a file", path=path, code="is_directory")
    if not stat.S_ISREG(st.st_mode):
        raise FileAccessError("not a regular file", path=path, code="not_regular")
    return st


def hash_file(
    path: str | Path,
    algorithms: Sequence[str] | None = None,
    *,
    fast: bool = False,
    dihedral: bool = False,
    upscaled: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    frame_interval: float = 1.0,
    video_limits: VideoLimits | None = None,
    robust: bool = False,
    bank_variants: bool = False,
) -> HashResult:
    """Hash a file on disk with ``algorithms`` (default: every signal). Raises an ``InputError``
    subclass naming the file on any problem.

    Byte signals stream the file (bounded memory for any size); image signals decode it once; video
    signals sample a frame every ``frame_interval`` seconds (0: every frame) within ``video_limits``.
    ``fast`` lets a large JPEG decode at reduced size, and a video without its deblocking filter (a few
    bits off); ``dihedral``, ``upscaled`` and ``robust`` add look-up variants, ``bank_variants`` the
    values a bank entry stores beside its hash (``HashOptions``).
    """
    path = Path(path)
    label = str(path)
    st = _check_regular_file(path)
    options = HashOptions(dihedral=dihedral, upscaled=upscaled, frame_interval=frame_interval, robust=robust,
                          bank_variants=bank_variants)
    try:
        with open(path, "rb") as fh:
            return _hash_stream(fh, label, st.st_size, algorithms, fast, options, max_pixels, max_file_bytes,
                                video_limits=video_limits, source_path=path)
    except PermissionError as exc:
        raise FileAccessError("permission denied", path=label, code="permission_denied") from exc
    except IsADirectoryError as exc:
        raise FileAccessError("is a directory, not a file", path=label, code="is_directory") from exc
    except OSError as exc:
        if exc.errno in (errno.EIO, errno.ENXIO, errno.ENODEV):
            raise FileAccessError(f"read error: {exc.strerror}", path=label, code="unreadable") from exc
        raise


def hash_bytes(
    data: bytes,
    label: str,
    algorithms: Sequence[str] | None = None,
    *,
    fast: bool = False,
    dihedral: bool = False,
    upscaled: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_decode_bytes: int | None = None,
    frame_interval: float = 1.0,
    video_limits: VideoLimits | None = None,
    robust: bool = False,
    bank_variants: bool = False,
) -> HashResult:
    """``hash_file`` for bytes already in memory (an upload, an archive member).

    ``max_decode_bytes`` refuses an image whose decoding would take more memory than that
    (``decode.decode_cost``, from its header) with an ``ImageTooLargeError``.
    """
    return _hash_stream(io.BytesIO(data), label, len(data), algorithms, fast,
                        HashOptions(dihedral=dihedral, upscaled=upscaled, frame_interval=frame_interval,
                                    robust=robust, bank_variants=bank_variants),
                        max_pixels, max_file_bytes, max_decode_bytes, video_limits=video_limits)


def _hash_stream(
    fh: BinaryIO,
    label: str,
    size: int,
    algorithms: Sequence[str] | None,
    fast: bool,
    options: HashOptions,
    max_pixels: int,
    max_file_bytes: int,
    max_decode_bytes: int | None = None,
    *,
    video_limits: VideoLimits | None = None,
    source_path: Path | None = None,
) -> HashResult:
    signals = [get_signal(a) for a in (algorithm_names() if algorithms is None else algorithms)]
    result = HashResult(path=label, size=size)
    by_bytes = {s.name: s for s in signals if issubclass(s, BytesHasher) and s.input is Input.BYTES}
    if by_bytes:
        digests, _ = stream_digests(fh, {name: s.new_digest() for name, s in by_bytes.items()})
        result.hashes.update(digests)
    by_image = [s for s in signals if issubclass(s, ImageHasher) and s.input is Input.IMAGE]
    by_video = [s for s in signals if issubclass(s, VideoHasher) and s.input is Input.VIDEO]
    if by_video or by_image:
        if size == 0:  # (the digests of no bytes are well defined; an image or video of none is not)
            raise FileAccessError("empty file (0 bytes)", path=label, code="empty")
        fh.seek(0)
        is_video = kind_of(sniff(fh.read(HEADER_BYTES))) == "video"
        fh.seek(0)
        if is_video and by_video:
            _hash_video(result, by_video, source_path or fh, label, size, options,
                        video_limits or VideoLimits(), fast)
            by_image = []
        elif is_video and not by_bytes:
            raise DecodeError(f"a video, not an image (its signals: {', '.join(_names(Input.VIDEO))})",
                              path=label, code="not_image")
        elif is_video:
            by_image = []  # asked for image signals only besides the bytes: a video has none
        elif by_video and not by_image and not by_bytes:
            raise DecodeError("not a recognised video format", path=label, code="not_video")
    if by_image:
        if size == 0:  # (the digests of no bytes are well defined; an image of none is not)
            raise FileAccessError("empty file (0 bytes)", path=label, code="empty")
        if size > max_file_bytes:
            raise ImageTooLargeError(
                f"{size} bytes exceeds the image size limit of {max_file_bytes} bytes",
                path=label, code="file_too_large")
        fh.seek(0)
        with open_image(fh, label=label, max_pixels=max_pixels) as im:
            result.width, result.height = im.size
            cost = decode_cost(im, fast=fast)
            if max_decode_bytes is not None and cost > max_decode_bytes:
                raise ImageTooLargeError(
                    f"{im.size[0]}x{im.size[1]} {im.mode} image: decoding it takes about {cost >> 20:,} MiB, "
                    f"over the {max_decode_bytes >> 20:,} MiB allowed (raise --max-memory to decode it)",
                    path=label, code="too_large_to_decode")
            pixels = load_pixels(im, label=label, fast=fast)
        image = DecodedImage(pixels, result.width, result.height)
        for sig in by_image:
            _add(result, sig, sig.hash_image(image, options))
    # Registry order in the result, whatever order the work was done in.
    order = {s.name: k for k, s in enumerate(signals)}
    result.hashes = dict(sorted(result.hashes.items(), key=lambda kv: order[kv[0]]))
    return result


def _names(kind: Input) -> list[str]:
    return [s.name for s in all_signals() if s.input is kind]


def _hash_video(result: HashResult, signals: Sequence[type[SignalType]], source: Path | BinaryIO, label: str,
                size: int, options: HashOptions, limits: VideoLimits, fast: bool) -> None:
    """Every video signal from one pass over the sampled frames."""
    if size == 0:
        raise FileAccessError("empty file (0 bytes)", path=label, code="empty")
    with open_video(source, label=label, limits=limits, fast=fast) as video:
        info = video.info
        hashers = [(sig, cast(VideoHasher, sig).new_video_hasher(info, options)) for sig in signals]
        for frame in video.frames(options.frame_interval):
            for _, hasher in hashers:
                hasher.add(frame)
    result.width, result.height = info.width, info.height
    result.extra.update({"duration": None if info.duration is None else round(info.duration, 3),
                         "frame_rate": round(info.frame_rate, 3)})
    for sig, hasher in hashers:
        try:
            _add(result, sig, hasher.finish())
        except InputError as exc:
            raise DecodeError(exc.message, path=label, code=exc.code) from None


def _add(result: HashResult, sig: type[SignalType], h: Any) -> None:
    result.hashes[sig.name] = h.value
    if h.quality is not None:
        result.quality[sig.name] = h.quality
    if h.variants:
        result.variants[sig.name] = h.variants


def hash_many(
    paths: Sequence[Path],
    *,
    jobs: int = 1,
    hash_one: Callable[[Path], HashResult] | None = None,
    **options: Any,
) -> Iterator[HashResult | InputError]:
    """``hash_file(path, **options)`` for each path, in order, with ``jobs`` threads (decoders and the
    PDQ kernel release the GIL). Yields the ``HashResult`` or the ``InputError`` of each path: one bad
    file never stops the rest. The look-ahead is bounded, so memory stays flat on huge folders."""
    work = hash_one or (lambda p: hash_file(p, **options))

    def one(p: Path) -> HashResult | InputError:
        try:
            return work(p)
        except InputError as exc:
            return exc

    if jobs <= 1:
        yield from map(one, paths)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        window = jobs * 4
        pending = [pool.submit(one, p) for p in paths[:window]]
        next_i = len(pending)
        while pending:
            result = pending.pop(0).result()
            if next_i < len(paths):
                pending.append(pool.submit(one, paths[next_i]))
                next_i += 1
            yield result


def iter_input_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand files and folders (recursively, sorted, symlinks to folders not followed).

    A path that does not exist or is not a folder is yielded as-is, so hashing it reports
    the problem with its name instead of it silently vanishing.
    """
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and p.suffix.lower() not in _IMAGE_LIKE_SUFFIXES:
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name
        else:
            # A directory named like an image (x.jpg) is a user mistake worth an error, not a walk.
            yield p


_IMAGE_LIKE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif"}

__all__ = ["HashResult", "algorithm_names", "hash_bytes", "hash_file", "hash_many", "iter_input_files",
           "parse_algorithms"]
