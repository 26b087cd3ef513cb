"""Hash one file (or in-memory bytes) with every requested algorithm: the core of `haven hash`."""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from haven.config import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS
from haven.errors import FileAccessError, ImageTooLargeError, UsageError
from haven.hashing.crypto import CRYPTO_ALGORITHMS, digest_stream
from haven.hashing.decode import decode_cost, load_pixels, open_image
from haven.hashing.ladder import upscaled_pdq
from haven.hashing.pdq import pdq_from_pixels

ALGORITHMS = ("pdq", *CRYPTO_ALGORITHMS)


@dataclass
class HashResult:
    """Everything Haven computed for one input. Absent values are ``None`` (never ``""``)."""

    path: str
    pdq: str | None = None
    quality: int | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None
    dihedral: dict[str, str] | None = None
    pdq_upscaled: dict[int, str] | None = None  # look-up values for small images (hashing/ladder.py)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The `haven hash --json` object (keys with no value are left out)."""
        out: dict[str, Any] = {"path": self.path}
        for key in ("pdq", "quality", "md5", "sha1", "sha256", "width", "height", "size", "dihedral"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.pdq_upscaled:
            out["pdq_upscaled"] = {str(side): value for side, value in self.pdq_upscaled.items()}
        out.update(self.extra)
        return out


def parse_algorithms(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"pdq,md5"`` → ``("pdq", "md5")``, in canonical order; unknown names are a UsageError."""
    if spec is None:
        return ALGORITHMS
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = sorted(set(names) - set(ALGORITHMS))
    if unknown or not names:
        raise UsageError(f"unknown hash algorithm(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(ALGORITHMS)}")
    return tuple(a for a in ALGORITHMS if a in names)


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
    algorithms: Sequence[str] = ALGORITHMS,
    *,
    fast: bool = False,
    dihedral: bool = False,
    upscaled: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> HashResult:
    """Hash a file on disk. Raises an ``InputError`` subclass naming the file on any problem.

    Crypto digests stream the bytes (bounded memory for any size); PDQ decodes the image.
    ``upscaled`` adds the PDQ look-up values of a small image (``haven.hashing.ladder``).
    """
    path = Path(path)
    label = str(path)
    st = _check_regular_file(path)
    if st.st_size == 0:
        raise FileAccessError("empty file (0 bytes)", path=label, code="empty")
    try:
        with open(path, "rb") as fh:
            return _hash_open_file(
                fh, label, st.st_size, algorithms, fast, dihedral, upscaled, max_pixels, max_file_bytes
            )
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
    algorithms: Sequence[str] = ALGORITHMS,
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
    if not data:
        raise FileAccessError("empty file (0 bytes)", path=label, code="empty")
    return _hash_open_file(
        io.BytesIO(data), label, len(data), algorithms, fast, dihedral, upscaled, max_pixels, max_file_bytes,
        max_decode_bytes,
    )


def _hash_open_file(
    fh: BinaryIO,
    label: str,
    size: int,
    algorithms: Sequence[str],
    fast: bool,
    dihedral: bool,
    upscaled: bool,
    max_pixels: int,
    max_file_bytes: int,
    max_decode_bytes: int | None = None,
) -> HashResult:
    result = HashResult(path=label, size=size)
    crypto = [a for a in algorithms if a in CRYPTO_ALGORITHMS]
    if crypto:
        digests, _ = digest_stream(fh, crypto)
        for name, value in digests.items():
            setattr(result, name, value)
    if "pdq" in algorithms:
        if size > max_file_bytes:
            raise ImageTooLargeError(
                f"{size} bytes exceeds the image size limit of {max_file_bytes} bytes",
                path=label, code="file_too_large")
        fh.seek(0)
        im = open_image(fh, label=label, max_pixels=max_pixels)
        with im:
            result.width, result.height = im.size
            cost = decode_cost(im, fast=fast)
            if max_decode_bytes is not None and cost > max_decode_bytes:
                raise ImageTooLargeError(
                    f"{im.size[0]}x{im.size[1]} {im.mode} image: decoding it takes about {cost >> 20:,} MiB, "
                    f"over the {max_decode_bytes >> 20:,} MiB allowed (raise --max-memory to decode it)",
                    path=label, code="too_large_to_decode")
            pixels = load_pixels(im, label=label, fast=fast)
        pdq = pdq_from_pixels(pixels, dihedral=dihedral)
        result.pdq, result.quality, result.dihedral = pdq.hash, pdq.quality, pdq.dihedral
        if upscaled and pixels.shape[:2] == (result.height, result.width):  # (a JPEG draft is never upscaled)
            result.pdq_upscaled = upscaled_pdq(pixels)
    return result


def iter_input_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand files and folders (recursively, sorted, symlinks to folders not followed).

    A path that does not exist or is not a folder is yielded as-is, so hashing it reports
    the problem with its name instead of it silently vanishing.
    """
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and not p.suffix.lower() in _IMAGE_LIKE_SUFFIXES:
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name
        elif p.is_dir():
            # A directory named like an image (x.jpg): a user mistake worth an error, not a walk.
            yield p
        else:
            yield p


_IMAGE_LIKE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif"}
