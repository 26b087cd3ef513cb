"""Hash one file (or in-memory bytes) with every requested signal: the core of `haven hash`, the
service's uploads, triage's workers and `haven match`.

One read of the bytes feeds every byte signal (MD5, SHA-1, SHA-256 …); one decode feeds every image
signal (PDQ …). Which signals exist, and how each computes its value, is the signal registry's
business (``haven.signals``): nothing here knows a signal by name.
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
from typing import Any, BinaryIO

from haven.config import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS
from haven.errors import FileAccessError, ImageTooLargeError, InputError, UsageError
from haven.hashing.crypto import stream_digests
from haven.hashing.decode import decode_cost, load_pixels, open_image
from haven.signals import (
    BytesHasher,
    DecodedImage,
    HashOptions,
    ImageHasher,
    Input,
    SignalType,
    Variant,
    all_signals,
    get_signal,
)


def algorithm_names() -> tuple[str, ...]:
    """Every signal a file can be hashed with here (bytes and image signals), in registry order."""
    return tuple(s.name for s in all_signals() if s.input in (Input.BYTES, Input.IMAGE))


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
) -> HashResult:
    """Hash a file on disk with ``algorithms`` (default: every signal). Raises an ``InputError``
    subclass naming the file on any problem.

    Byte signals stream the file (bounded memory for any size); image signals decode it once.
    ``fast`` lets a large JPEG decode at reduced size; ``dihedral`` and ``upscaled`` add look-up
    variants (``HashOptions``).
    """
    path = Path(path)
    label = str(path)
    st = _check_regular_file(path)
    options = HashOptions(dihedral=dihedral, upscaled=upscaled)
    try:
        with open(path, "rb") as fh:
            return _hash_stream(fh, label, st.st_size, algorithms, fast, options, max_pixels, max_file_bytes)
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
) -> HashResult:
    """``hash_file`` for bytes already in memory (an upload, an archive member).

    ``max_decode_bytes`` refuses an image whose decoding would take more memory than that
    (``decode.decode_cost``, from its header) with an ``ImageTooLargeError``.
    """
    return _hash_stream(io.BytesIO(data), label, len(data), algorithms, fast,
                        HashOptions(dihedral=dihedral, upscaled=upscaled), max_pixels, max_file_bytes,
                        max_decode_bytes)


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
) -> HashResult:
    signals = [get_signal(a) for a in (algorithm_names() if algorithms is None else algorithms)]
    result = HashResult(path=label, size=size)
    by_bytes = {s.name: s for s in signals if issubclass(s, BytesHasher) and s.input is Input.BYTES}
    if by_bytes:
        digests, _ = stream_digests(fh, {name: s.new_digest() for name, s in by_bytes.items()})
        result.hashes.update(digests)
    by_image = [s for s in signals if issubclass(s, ImageHasher) and s.input is Input.IMAGE]
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
