"""Disk images (raw/dd and EnCase E01) through The Sleuth Kit (pytsk3) and libewf (pyewf), when installed.

Both are optional: without them a disk image is hashed as a file and a ``disk_unsupported``
problem says why it was not opened. Only allocated files are read (deleted-file recovery is
the job of a full forensic suite); each is addressed as ``image.dd!/p<n>/DCIM/x.jpg`` (``p<n>``
only when the image has a partition table).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from haven.errors import ArchiveError
from haven.media.evidence import EvidencePath
from haven.media.limits import Budget, Limits

try:
    import pytsk3
except ImportError:  # pragma: no cover - optional
    pytsk3 = None
try:
    import pyewf
except ImportError:  # pragma: no cover - optional
    pyewf = None

Recurse = Callable[..., Iterator[Any]]


def available() -> bool:
    """True when pytsk3 is importable (raw images); E01 additionally needs pyewf."""
    return pytsk3 is not None


if pytsk3 is not None:

    class _StreamImage(pytsk3.Img_Info):  # type: ignore[misc, name-defined]
        """A TSK image over any seekable Python file object (a file, a BytesIO, an EWF handle)."""

        def __init__(self, fh: Any, size: int) -> None:
            self._fh = fh
            self._size = size
            super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

        def close(self) -> None:  # the owner closes the file object
            pass

        def read(self, offset: int, size: int) -> bytes:
            self._fh.seek(offset)
            return bytes(self._fh.read(size))

        def get_size(self) -> int:
            return self._size


def walk_disk(
    ev: EvidencePath,
    os_path: str,
    mime: str,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Callable[[EvidencePath], bool],
    recurse: Recurse,
) -> Iterator[Any]:
    """Files on a disk image that lies on the examiner's file system (E01 segments are globbed)."""
    from haven.media.walk import Problem

    if mime == "application/x-ewf":
        if pyewf is None or pytsk3 is None:
            yield _unsupported(ev, "E01 images need pytsk3 and libewf-python")
            return
        handle = pyewf.handle()
        try:
            handle.open(pyewf.glob(os_path))
        except OSError as exc:
            yield Problem.warning(ev, f"cannot open E01: {exc}", "corrupt_archive")
            return
        try:
            yield from _walk_image(ev, handle, handle.get_media_size(), depth, limits, budget, want, recurse)
        finally:
            handle.close()
        return
    with open(os_path, "rb") as fh:
        fh.seek(0, io.SEEK_END)
        size = fh.tell()
        yield from walk_disk_fileobj(ev, fh, mime, depth, limits, budget, want, recurse, size=size)


def walk_disk_fileobj(
    ev: EvidencePath,
    fh: BinaryIO,
    mime: str,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Callable[[EvidencePath], bool],
    recurse: Recurse,
    size: int | None = None,
) -> Iterator[Any]:
    """Files on a raw disk image given as a file object (e.g. an image inside a zip)."""
    if pytsk3 is None:
        yield _unsupported(ev, "disk images need pytsk3")
        return
    if mime == "application/x-ewf":
        yield _unsupported(
            ev, "E01 images are opened only from the file system (segments are separate files)"
        )
        return
    if size is None:
        fh.seek(0, io.SEEK_END)
        size = fh.tell()
    yield from _walk_image(ev, fh, size, depth, limits, budget, want, recurse)


def _unsupported(ev: EvidencePath, why: str) -> Any:
    from haven.media.walk import Problem

    return Problem.warning(ev, f"disk image not opened: {why}", "disk_unsupported")


def _walk_image(
    ev: EvidencePath,
    fh: Any,
    size: int,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Callable[[EvidencePath], bool],
    recurse: Recurse,
) -> Iterator[Any]:
    from haven.media.walk import Problem

    img = _StreamImage(fh, size)
    filesystems: list[tuple[str, Any]] = []
    try:
        filesystems.append(("", pytsk3.FS_Info(img, offset=0)))
    except OSError:
        try:
            volume = pytsk3.Volume_Info(img)
            for part in volume:
                if part.flags != pytsk3.TSK_VS_PART_FLAG_ALLOC:
                    continue
                try:
                    fs = pytsk3.FS_Info(img, offset=part.start * volume.info.block_size)
                except OSError:
                    continue
                filesystems.append((f"p{part.addr}/", fs))
        except OSError as exc:
            yield Problem.warning(ev, f"no file system or partition table found: {exc}", "corrupt_archive")
            return
    for prefix, fs in filesystems:
        yield from _walk_dir(
            ev, fs, fs.open_dir(path="/"), prefix, depth, limits, budget, want, recurse, set()
        )


def _walk_dir(
    ev: EvidencePath,
    fs: Any,
    directory: Any,
    prefix: str,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Callable[[EvidencePath], bool],
    recurse: Recurse,
    seen: set[int],
) -> Iterator[Any]:
    from haven.media.walk import Problem, _member, _precheck

    entries = []
    for f in directory:
        name = f.info.name.name.decode("utf-8", "replace")
        if name in (".", "..") or f.info.meta is None:
            continue
        if not (int(f.info.meta.flags) & int(pytsk3.TSK_FS_META_FLAG_ALLOC)):
            continue
        entries.append((name, f))
    for name, f in sorted(entries, key=lambda e: e[0]):
        meta = f.info.meta
        if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
            if meta.addr in seen or name.startswith("$"):
                continue  # directory loops; NTFS/FAT system folders
            seen.add(meta.addr)
            yield from _walk_dir(
                ev, fs, f.as_directory(), f"{prefix}{name}/", depth, limits, budget, want, recurse, seen
            )
        elif meta.type == pytsk3.TSK_FS_META_TYPE_REG:
            child = ev.child(prefix + name)
            problems = list(_precheck(child, prefix + name, meta.size, None, limits, budget))
            yield from problems
            if any(p.skipped for p in problems) or meta.size == 0:
                continue
            try:
                data = f.read_random(0, meta.size)
            except OSError as exc:
                yield Problem(
                    child,
                    ArchiveError(
                        f"cannot read file from image: {exc}", path=str(child), code="corrupt_member"
                    ),
                )
                continue
            budget.spend(len(data))
            yield from _member(ev, child, data, depth, limits, budget, want)
