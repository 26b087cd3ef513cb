"""Disk images (raw/dd and EnCase E01) through The Sleuth Kit (pytsk3) and libewf (pyewf), when installed.

Both are optional: without them a disk image is hashed as a file and a ``disk_unsupported``
problem says why it was not opened. Only allocated files are read (deleted-file recovery is
the job of a full forensic suite); each is addressed as ``image.dd!/p<n>/DCIM/x.jpg`` (``p<n>``
only when the image has a partition table).

A disk image is a container like any other: its files are read in blocks through the walk's
member reader (so they are metered against the source's budget: cross-linked clusters cannot
make a small image yield without end), a damaged or truncated image ends with a problem
naming it (raised through ``items.guarded`` by the caller), and links and special files are
recorded, never followed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from haven.errors import BombError
from haven.media.evidence import EvidencePath
from haven.media.items import Item, MemberNames, Problem, Want, guarded, os_error_text
from haven.media.limits import Budget, Limits, check_member
from haven.media.streams import ByteReader, Metered

try:
    import pytsk3
except ImportError:  # pragma: no cover - optional
    pytsk3 = None
try:
    import pyewf
except ImportError:  # pragma: no cover - optional
    pyewf = None

#: The walk's reader of one member: (path, metered stream, declared size, depth, limits, budget, want).
MemberReader = Callable[[EvidencePath, Any, int, int, Limits, Budget, Want], Iterator[Item]]


def available() -> bool:
    """True when pytsk3 is importable (raw images); E01 additionally needs pyewf."""
    return pytsk3 is not None


if pytsk3 is not None:

    class _StreamImage(pytsk3.Img_Info):  # type: ignore[misc]
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


class _TskFile(ByteReader):
    """One file of a disk image as a stream, read in blocks (``read_random`` of at most ``BLOCK``)."""

    def __init__(self, f: Any, size: int) -> None:
        super().__init__()
        self._f = f
        self._size = size
        self._pos = 0

    def read_block(self, size: int) -> bytes:
        n = min(size, self._size - self._pos)
        if n <= 0:
            return b""
        data = bytes(self._f.read_random(self._pos, n))
        if not data:
            raise OSError(f"read error at byte {self._pos:,} of {self._size:,}")
        self._pos += len(data)
        return data


def walk_disk(
    ev: EvidencePath,
    os_path: str,
    fh: BinaryIO,
    size: int,
    mime: str,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Want,
    member: MemberReader,
) -> Iterator[Item]:
    """Files on a disk image that lies on the examiner's file system (E01 segments are globbed)."""
    if mime != "application/x-ewf":
        yield from walk_disk_fileobj(ev, fh, size, mime, depth, limits, budget, want, member)
        return
    if pyewf is None or pytsk3 is None:
        yield _unsupported(ev, "E01 images need pytsk3 and libewf-python")
        return
    handle = pyewf.handle()
    try:
        handle.open(pyewf.glob(os_path))
        media = int(handle.get_media_size())
    except Exception as exc:  # noqa: BLE001 - libewf raises OSError or RuntimeError on damaged images
        yield Problem.warning(ev, f"cannot open E01: {os_error_text(exc)}", "corrupt_archive")
        return
    try:
        # An E01 compresses its media: the media counts as the source's size, up to the ratio limit.
        budget.rebase(min(media, int(size * limits.max_ratio)))
        yield from _walk_image(ev, handle, media, depth, limits, budget, want, member)
    finally:
        handle.close()


def walk_disk_fileobj(
    ev: EvidencePath,
    fh: BinaryIO,
    size: int,
    mime: str,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Want,
    member: MemberReader,
) -> Iterator[Item]:
    """Files on a raw disk image given as a seekable file object (a file, or an image inside a zip)."""
    if pytsk3 is None:
        yield _unsupported(ev, "disk images need pytsk3")
        return
    if mime == "application/x-ewf":
        yield _unsupported(
            ev, "E01 images are opened only from the file system (segments are separate files)"
        )
        return
    yield from _walk_image(ev, fh, size, depth, limits, budget, want, member)


def _unsupported(ev: EvidencePath, why: str) -> Problem:
    return Problem.warning(ev, f"disk image not opened: {why}", "disk_unsupported")


def _walk_image(
    ev: EvidencePath,
    fh: Any,
    size: int,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Want,
    member: MemberReader,
) -> Iterator[Item]:
    img = _StreamImage(fh, size)
    filesystems: list[tuple[str, Any]] = []
    try:
        filesystems.append(("", pytsk3.FS_Info(img, offset=0)))
    except OSError:
        try:
            volume = pytsk3.Volume_Info(img)
        except OSError as exc:
            yield Problem.warning(
                ev, f"no file system or partition table found: {os_error_text(exc)}", "corrupt_archive"
            )
            return
        for part in volume:
            if part.flags != pytsk3.TSK_VS_PART_FLAG_ALLOC:
                continue
            try:
                fs = pytsk3.FS_Info(img, offset=part.start * volume.info.block_size)
            except OSError as exc:
                yield Problem.warning(
                    ev.child(f"p{part.addr}"),
                    f"partition {part.addr} holds no readable file system: {os_error_text(exc)}",
                    "corrupt_archive",
                )
                continue
            filesystems.append((f"p{part.addr}/", fs))
    names = MemberNames(ev)
    for prefix, fs in filesystems:
        walker = _walk_dir(
            ev, fs, fs.open_dir(path="/"), prefix, depth, limits, budget, want, member, set(), names
        )
        yield from guarded(ev.child(prefix or "/"), walker) if prefix else walker


def _walk_dir(
    ev: EvidencePath,
    fs: Any,
    directory: Any,
    prefix: str,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Want,
    member: MemberReader,
    seen: set[int],
    names: MemberNames,
) -> Iterator[Item]:
    entries = []
    for f in directory:
        name = f.info.name.name.decode("utf-8", "surrogateescape")
        if name in (".", "..") or f.info.meta is None:
            continue
        if not (int(f.info.meta.flags) & int(pytsk3.TSK_FS_META_FLAG_ALLOC)):
            continue
        if f.info.meta.type in (pytsk3.TSK_FS_META_TYPE_VIRT, pytsk3.TSK_FS_META_TYPE_VIRT_DIR):
            continue  # entries TSK makes up ($MBR, $FAT1, $OrphanFiles): not files of the evidence
        entries.append((name, f))
    for name, f in sorted(entries, key=lambda e: e[0]):
        meta = f.info.meta
        child = names.child(prefix + name)
        if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
            if meta.addr in seen or name.startswith("$"):
                continue  # directory loops; NTFS/FAT system folders
            seen.add(meta.addr)
            sub = _walk_dir(
                ev, fs, f.as_directory(), f"{prefix}{name}/", depth, limits, budget, want, member, seen, names
            )
            yield from guarded(child, sub)
        elif meta.type == pytsk3.TSK_FS_META_TYPE_REG:
            problems = check_member(child, prefix + name, meta.size, None, limits, budget)
            yield from problems
            if any(p.skipped for p in problems):
                continue
            try:
                yield from member(
                    child,
                    Metered(_TskFile(f, meta.size), budget, child),
                    meta.size,
                    depth,
                    limits,
                    budget,
                    want,
                )
            except BombError as exc:
                yield Problem(child, exc)
            except OSError as exc:
                yield Problem.skip(
                    child, f"cannot read file from image: {os_error_text(exc)}", "corrupt_member"
                )
        elif meta.type == pytsk3.TSK_FS_META_TYPE_LNK:
            try:
                target = bytes(f.read_random(0, min(meta.size, 4096))).decode("utf-8", "surrogateescape")
            except OSError as exc:
                target = f"(unreadable: {os_error_text(exc)})"
            yield Problem.warning(child, f"symbolic link to {target!r}; recorded, not followed", "symlink")
        else:
            yield Problem.warning(
                child, f"not a regular file (TSK type {int(meta.type)}); recorded, not read", "not_regular"
            )
