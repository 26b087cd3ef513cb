"""Walk evidence — folders, zip, tar (.gz/.bz2/.xz), nested archives, disk images — without extracting.

Nothing is ever written to disk. Each file comes out as an ``Entry`` addressed by an
``EvidencePath``; each thing wrong or not read (a bomb, path traversal, a damaged archive,
depth exceeded, a link or device, a member over a limit) as a ``Problem`` naming its path,
and the walk goes on. Evidence may be built by someone who expects it to be examined, so:

- every byte a container yields is spent from its source's ``Budget`` (``limits.py``) as it
  is read, whatever the container kind or nesting;
- a member is held in memory only when it must be decoded (an image) or opened (a container)
  and is at most ``Limits.max_member_bytes``; anything bigger is streamed through the hashers;
- an exception of any kind while a container is read ends that container with a problem
  naming it, never the walk: the other members and sources are still reached;
- members with the same name, links, FIFOs and devices each get their own item.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from haven.errors import ArchiveError, BombError, FileAccessError, HavenError
from haven.media import zipread
from haven.media.disk import walk_disk, walk_disk_fileobj
from haven.media.evidence import EvidencePath
from haven.media.items import Entry, Hashers, Item, MemberNames, Problem, Want, guarded, os_error_text
from haven.media.limits import Budget, Limits, check_member, unsafe_member_name
from haven.media.sniff import HEADER_BYTES, kind_of, sniff
from haven.media.streams import COMPRESSED, Metered, Readable, Tee, decompressed, read_up_to

__all__ = ["Entry", "Item", "Problem", "unsafe_member_name", "walk"]

INLINE_BYTES = 4 * 1024 * 1024  # other members up to this size travel as bytes; bigger ones are hashed here
TAIL_BYTES = 4096  # the end of a file searched for an appended zip's end record
TAR_BUFFER = 64 * 1024


def _all(_: EvidencePath) -> bool:
    return True


def walk(sources: Iterable[str | Path], limits: Limits = Limits(), want: Want = _all) -> Iterator[Item]:
    """Every file in every source, in a stable order (sorted folder entries, archive order).

    ``want(path)`` False means the caller already has that file (a resumed run): its bytes are
    not read, but containers are still opened so the files inside them are reached.
    """
    for raw in sources:
        root = os.path.abspath(os.fspath(raw))
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            yield Problem(
                EvidencePath.source(root),
                FileAccessError("no such file or folder", path=root, code="not_found"),
            )
            continue
        except OSError as exc:
            yield _unreadable(EvidencePath.source(root), exc, "cannot stat")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _folder(root, limits, want)
        else:
            yield from _fs_file(root, limits, want)


def _unreadable(ev: EvidencePath, exc: BaseException, what: str = "cannot read") -> Problem:
    return Problem(ev, FileAccessError(f"{what}: {os_error_text(exc)}", path=str(ev), code="unreadable"))


def _folder(root: str, limits: Limits, want: Want) -> Iterator[Item]:
    errors: list[OSError] = []
    for folder, dirs, files in os.walk(root, onerror=errors.append):
        for exc in errors:
            yield _unreadable(EvidencePath.source(exc.filename or folder), exc, "cannot list folder")
        errors.clear()
        dirs.sort()
        for name in list(dirs):
            path = os.path.join(folder, name)
            if os.path.islink(path):  # os.walk lists links to folders among the folders, never entering them
                dirs.remove(name)
                yield from _fs_file(path, limits, want)
        for name in sorted(files):
            yield from _fs_file(os.path.join(folder, name), limits, want)
    for exc in errors:
        yield _unreadable(EvidencePath.source(exc.filename or root), exc, "cannot list folder")


_SPECIAL = (
    (stat.S_ISFIFO, "fifo", "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket", "a socket"),
    (stat.S_ISCHR, "device", "a character device"),
    (stat.S_ISBLK, "device", "a block device"),
)


def _special(ev: EvidencePath, st: os.stat_result) -> Problem:
    """A file-system entry with no content of its own, recorded with what it is (and a link's target)."""
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(ev.parts[0])
        except OSError as exc:
            target = f"(unreadable: {os_error_text(exc)})"
        return Problem.warning(ev, f"symbolic link to {target!r}; recorded, not followed", "symlink")
    for test, code, what in _SPECIAL:
        if test(st.st_mode):
            extra = f" {os.major(st.st_rdev)},{os.minor(st.st_rdev)}" if code == "device" else ""
            return Problem.warning(ev, f"{what}{extra}; recorded, not read", code)
    return Problem.warning(ev, f"not a regular file (mode {st.st_mode:o}); recorded, not read", "not_regular")


def _fs_file(path: str, limits: Limits, want: Want) -> Iterator[Item]:
    ev = EvidencePath.source(path)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            yield _special(ev, st)
            return
        # O_NONBLOCK | O_NOFOLLOW: a file swapped for a FIFO or a link since the lstat cannot hang or redirect
        # us.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        yield _unreadable(ev, exc)
        return
    with os.fdopen(fd, "rb") as fh:
        try:
            head = fh.read(HEADER_BYTES)
        except OSError as exc:
            yield _unreadable(ev, exc)
            return
        mime = sniff(head)
        if want(ev):
            yield Entry(ev, mime, st.st_size, os_path=path)
        budget = Budget(limits, st.st_size)
        kind = kind_of(mime)
        if kind == "disk":
            yield from guarded(
                ev, walk_disk(ev, path, fh, st.st_size, mime, 1, limits, budget, want, _member)
            )
        elif kind == "archive":
            yield from _container(ev, fh, st.st_size, mime, 1, limits, budget, want)
        else:
            yield from _appended_zip(ev, fh, st.st_size, 1, limits, budget, want)


def _container(
    ev: EvidencePath,
    fh: BinaryIO,
    size: int,
    mime: str,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Want,
) -> Iterator[Item]:
    """The files inside one seekable container whose own address is ``ev`` (at nesting ``depth`` ≥ 1)."""
    if depth > limits.max_depth:
        yield Problem.warning(ev, f"nested deeper than {limits.max_depth} containers; not opened", "too_deep")
        return
    if mime == "application/zip":
        yield from guarded(ev, _zip(ev, fh, size, depth, limits, budget, want))
    elif mime == "application/x-tar" or mime in COMPRESSED:
        fh.seek(0)
        yield from guarded(ev, _tar(ev, fh, mime, depth, limits, budget, want))
    elif kind_of(mime) == "disk":
        yield from guarded(ev, walk_disk_fileobj(ev, fh, size, mime, depth, limits, budget, want, _member))


def _appended_zip(
    ev: EvidencePath, fh: BinaryIO, size: int, depth: int, limits: Limits, budget: Budget, want: Want
) -> Iterator[Item]:
    """A zip appended to a file of another type (a JPEG with a zip after it): walked as an archive too."""
    if size < zipread.END_SIZE or depth > limits.max_depth:
        return
    try:
        fh.seek(max(0, size - TAIL_BYTES))
        if zipread.END_SIGNATURE not in fh.read(TAIL_BYTES):
            return
        directory = zipread.read_directory(fh, size, 1)
        if directory.prefix <= 0 or not directory.members:
            return
    except (OSError, HavenError):
        return  # the bytes looked like an end record by chance; the file's own hashing goes on
    yield Problem.warning(
        ev,
        f"a zip archive is appended after byte {directory.prefix:,}; its members are walked",
        "appended_archive",
    )
    yield from guarded(ev, _zip(ev, fh, size, depth, limits, budget, want))


def _member(
    child: EvidencePath,
    stream: Readable,
    declared: int,
    depth: int,
    limits: Limits,
    budget: Budget,
    want: Want,
) -> Iterator[Item]:
    """One member, read from ``stream`` (already metered), then whatever it contains when it is a container.

    It is held in memory when it has to be decoded or opened (an image or a container, up to
    ``limits.max_member_bytes``) or is small; otherwise it is streamed through the hashers (a
    tar inside is walked from that same stream).
    """
    head = read_up_to(stream, HEADER_BYTES)
    mime = sniff(head)
    kind = kind_of(mime)
    wanted = want(child)
    if not wanted and kind not in ("archive", "disk"):
        return  # already processed, nothing inside: no need to read the rest
    hold = limits.max_member_bytes
    if kind not in ("image", "archive", "disk"):
        hold = min(hold, INLINE_BYTES)
    if declared <= hold:
        data = head + read_up_to(stream, max(0, hold - len(head)) + 1)
        if len(data) <= hold:
            if wanted and kind in ("archive", "disk"):  # digested here: only images travel to be decoded
                hashers = Hashers()
                hashers.update(data)
                yield Entry(child, mime, len(data), digests=hashers.digests())
            elif wanted:
                yield Entry(child, mime, len(data), data=data)
            if kind in ("archive", "disk"):
                yield from _container(
                    child, io.BytesIO(data), len(data), mime, depth + 1, limits, budget, want
                )
            else:
                yield from _appended_zip(child, io.BytesIO(data), len(data), depth + 1, limits, budget, want)
            return
        head = data  # longer than it said: hash it as it streams
    tee = Tee(head, stream, Hashers())
    if kind == "archive" and mime != "application/zip" and depth + 1 <= limits.max_depth:
        yield from guarded(child, _tar(child, tee, mime, depth + 1, limits, budget, want))  # type: ignore[arg-type]
    elif kind in ("archive", "disk"):
        yield Problem.warning(
            child,
            f"a {mime} of more than {hold:,} bytes inside a container is not opened (it would have to be "
            "held in memory; see --max-memory); its digests are recorded",
            "not_opened",
        )
    tee.drain()
    if wanted:  # an image this big gets its digests only (its row says why)
        yield Entry(child, mime, tee.hashers.size, digests=tee.hashers.digests())


def _zip(
    ev: EvidencePath, fh: BinaryIO, size: int, depth: int, limits: Limits, budget: Budget, want: Want
) -> Iterator[Item]:
    try:
        directory = zipread.read_directory(fh, size, limits.max_members + 1)
    except ArchiveError as exc:
        yield Problem.warning(ev, f"cannot open zip: {exc.message}", "corrupt_archive")
        return
    members = [m for m in directory.members if not m.is_dir]
    if len(directory.members) > limits.max_members or directory.declared > limits.max_members:
        yield Problem.warning(
            ev,
            f"{max(len(directory.members), directory.declared):,} entries exceed the limit of "
            f"{limits.max_members:,}; only the first are read",
            "too_many_members",
        )
        members = [m for m in members if m.index < limits.max_members]
    overlaps = zipread.overlapping(members)
    if overlaps:
        yield Problem.warning(
            ev,
            f"{len(overlaps):,} entries overlap other entries' data (an overlapping-entries zip bomb); "
            "they are listed and not read",
            "zip_bomb",
        )
    names = MemberNames(ev)
    for m in members:
        child = names.child(m.name)
        if m.index in overlaps:
            other = overlaps[m.index]
            yield Problem.skip(
                child, f"its data overlaps entry {other.name!r} (a zip bomb); not read", "zip_bomb"
            )
            continue
        problems = check_member(child, m.name, m.size, m.packed, limits, budget)
        yield from problems
        if any(p.skipped for p in problems):
            continue
        try:
            stream = zipread.open_member(fh, m)
            if m.is_symlink:
                target = stream.read(4096).decode("utf-8", "surrogateescape")
                budget.spend(len(target), child)
                yield Problem.warning(
                    child, f"symbolic link to {target!r}; recorded, not followed", "symlink"
                )
                continue
            yield from _member(child, Metered(stream, budget, child), m.size, depth, limits, budget, want)
            if stream.crc_ok is False:
                yield Problem.warning(
                    child, "CRC-32 does not match the central directory (damaged)", "crc_mismatch"
                )
        except BombError as exc:
            yield Problem(child, exc)
            if budget.remaining == 0:
                yield from _not_reached(ev, names, members, m.index, budget)
                return
        except (ArchiveError, OSError, EOFError, ValueError) as exc:
            yield _unreadable_member(child, exc)


def _not_reached(
    ev: EvidencePath, names: MemberNames, members: list[zipread.ZipMember], after: int, budget: Budget
) -> Iterator[Item]:
    """Once the source's budget is spent, each member not read is still named (the zip lists them all)."""
    for m in members:
        if m.index > after:
            yield Problem(names.child(m.name), budget.exhausted(names.parent.child(m.name)))


def _unreadable_member(child: EvidencePath, exc: BaseException) -> Problem:
    """A member that cannot be read becomes a problem naming it; the walk goes on with the next."""
    if isinstance(exc, HavenError):
        message = exc.message.removeprefix(f"{child}: ")
        return Problem.skip(child, message, getattr(exc, "code", "corrupt_member"))
    return Problem.skip(child, f"cannot read member: {os_error_text(exc)}", "corrupt_member")


_TAR_SPECIAL = {
    tarfile.SYMTYPE: ("symlink", "symbolic link to {target!r}; recorded, not followed"),
    tarfile.LNKTYPE: ("hardlink", "hard link to {target!r}; recorded, its content is that member's"),
    tarfile.FIFOTYPE: ("fifo", "a FIFO (named pipe); recorded, not read"),
    tarfile.CHRTYPE: ("device", "a character device {major},{minor}; recorded, not read"),
    tarfile.BLKTYPE: ("device", "a block device {major},{minor}; recorded, not read"),
}


def _tar(
    ev: EvidencePath, fh: BinaryIO, mime: str, depth: int, limits: Limits, budget: Budget, want: Want
) -> Iterator[Item]:
    """A tar (or a gzip/bzip2/xz-compressed one), read as a stream: every byte is decompressed once,
    metered."""
    stream = Metered(decompressed(fh, mime), budget, ev)
    try:
        # 64 KiB records: tarfile copies what is left of its buffer on every header read, so a
        # bigger buffer costs a copy per member; a smaller one, a Python call per 10 KiB of data.
        tf = tarfile.open(fileobj=stream, mode="r|", bufsize=TAR_BUFFER)
    except tarfile.ReadError as exc:
        if mime != "application/x-tar":
            return  # a single compressed file, not a tar: nothing inside to walk
        yield Problem.warning(ev, f"cannot open tar: {exc}", "corrupt_archive")
        return
    names = MemberNames(ev)
    count = 0
    with tf:
        while True:
            try:
                info = tf.next()
            except tarfile.ReadError as exc:
                yield Problem.warning(ev, f"archive damaged after {count} members: {exc}", "corrupt_archive")
                return
            if info is None:
                return
            if info.isdir():
                continue  # a folder holds no content of its own
            count += 1
            if count > limits.max_members:
                yield Problem.warning(
                    ev, f"more than {limits.max_members:,} members; the rest are not read", "too_many_members"
                )
                return
            child = names.child(info.name)
            special = _TAR_SPECIAL.get(info.type)
            if special is not None:
                code, text = special
                yield Problem.warning(
                    child, text.format(target=info.linkname, major=info.devmajor, minor=info.devminor), code
                )
                continue
            problems = check_member(child, info.name, info.size, None, limits, budget)
            yield from problems
            if any(p.skipped for p in problems):
                if not budget.fits(info.size):
                    yield Problem.warning(
                        ev,
                        f"stopped at {info.name!r}: going past it would decompress more than the source may "
                        "yield (decompression bomb); the rest of this archive is not read",
                        "zip_bomb",
                    )
                    return
                continue
            member = tf.extractfile(info)
            if member is None:
                continue
            try:
                yield from _member(child, member, info.size, depth, limits, budget, want)
            except BombError:
                yield Problem(child, budget.exhausted(child))
                raise  # the stream itself is spent: the container ends (reported by the guard)
            except (ArchiveError, OSError, EOFError, ValueError, tarfile.TarError) as exc:
                yield _unreadable_member(child, exc)
