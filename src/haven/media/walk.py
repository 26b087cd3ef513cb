"""Walk evidence — folders, zip, tar (.gz/.bz2/.xz), nested archives, disk images — without extracting.

Nothing is ever written to disk: archive members are read into memory (bounded by ``Limits``)
and folders' files are left for the caller to read. Each file comes out as an ``Entry``
addressed by an ``EvidencePath``; each problem (zip bomb, path traversal, corrupt archive,
depth exceeded …) as a ``Problem`` naming the path, and the walk goes on.
"""

from __future__ import annotations

import io
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from haven.errors import ArchiveError, FileAccessError, InputError
from haven.media.evidence import EvidencePath
from haven.media.limits import Budget, Limits
from haven.media.sniff import HEADER_BYTES, kind_of, sniff

Want = Callable[[EvidencePath], bool]


@dataclass
class Entry:
    """One file found in the evidence: either on disk (``os_path``) or in memory (``data``)."""

    path: EvidencePath
    mime: str
    size: int
    os_path: str | None = None
    data: bytes | None = None

    @property
    def kind(self) -> str:
        return kind_of(self.mime)

    def read(self) -> bytes:
        """The file's bytes (a folder's file is read now; an archive member is already in memory)."""
        if self.data is not None:
            return self.data
        assert self.os_path is not None
        try:
            with open(self.os_path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise FileAccessError(
                f"cannot read: {exc.strerror}", path=str(self.path), code="unreadable"
            ) from exc


@dataclass
class Problem:
    """Something wrong at ``path``; ``skipped`` says whether the file itself was left out."""

    path: EvidencePath
    error: InputError
    skipped: bool = True

    @classmethod
    def warning(cls, path: EvidencePath, message: str, code: str) -> Problem:
        """An archive-level problem at ``path`` that does not leave the file itself out."""
        return cls(path, ArchiveError(message, path=str(path), code=code), skipped=False)


Item = Entry | Problem

_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    KeyError,
    IndexError,
)


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
            yield Problem(
                EvidencePath.source(root),
                FileAccessError(f"cannot stat: {exc.strerror}", path=root, code="unreadable"),
            )
            continue
        if stat.S_ISDIR(st.st_mode):
            for folder, dirs, files in os.walk(root, onerror=None):
                dirs.sort()
                for name in sorted(files):
                    yield from _fs_file(os.path.join(folder, name), limits, want)
        else:
            yield from _fs_file(root, limits, want)


def _fs_file(path: str, limits: Limits, want: Want) -> Iterator[Item]:
    ev = EvidencePath.source(path)
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            yield Problem(ev, FileAccessError("symbolic link, not followed", path=path, code="symlink"))
            return
        if not stat.S_ISREG(st.st_mode):
            yield Problem(ev, FileAccessError("not a regular file", path=path, code="not_regular"))
            return
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
    except OSError as exc:
        yield Problem(ev, FileAccessError(f"cannot read: {exc.strerror}", path=path, code="unreadable"))
        return
    mime = sniff(head)
    if want(ev):
        yield Entry(ev, mime, st.st_size, os_path=path)
    kind = kind_of(mime)
    if kind in ("archive", "disk"):
        budget = Budget(limits)
        if kind == "disk":
            from haven.media.disk import walk_disk

            yield from walk_disk(ev, path, mime, 1, limits, budget, want, _container)
            return
        try:
            with open(path, "rb") as fh:
                yield from _container(ev, fh, mime, 1, limits, budget, want)
        except OSError as exc:
            yield Problem(ev, FileAccessError(f"cannot read: {exc.strerror}", path=path, code="unreadable"))


def _container(
    ev: EvidencePath, fh: BinaryIO, mime: str, depth: int, limits: Limits, budget: Budget, want: Want
) -> Iterator[Item]:
    """The files inside one container whose own address is ``ev`` (at nesting ``depth`` ≥ 1)."""
    if depth > limits.max_depth:
        yield Problem.warning(ev, f"nested deeper than {limits.max_depth} containers; not opened", "too_deep")
        return
    if mime == "application/zip":
        yield from _zip(ev, fh, depth, limits, budget, want)
    elif mime in ("application/x-tar", "application/gzip", "application/x-bzip2", "application/x-xz"):
        yield from _tar(ev, fh, mime, depth, limits, budget, want)
    elif mime in ("application/x-raw-disk-image", "application/x-ewf"):
        from haven.media.disk import walk_disk_fileobj

        yield from walk_disk_fileobj(ev, fh, mime, depth, limits, budget, want, _container)


def unsafe_member_name(name: str) -> bool:
    """True for names that would escape an extraction folder: absolute, drive-letter or ``..`` parts."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in name.replace("\\", "/").split("/"))


def _member(
    ev: EvidencePath, child: EvidencePath, data: bytes, depth: int, limits: Limits, budget: Budget, want: Want
) -> Iterator[Item]:
    """Yield one member read into memory, then whatever it contains when it is itself a container."""
    mime = sniff(data[:HEADER_BYTES])
    if want(child):
        yield Entry(child, mime, len(data), data=data)
    if kind_of(mime) in ("archive", "disk"):
        yield from _container(child, io.BytesIO(data), mime, depth + 1, limits, budget, want)


def _precheck(
    child: EvidencePath, name: str, size: int, packed: int | None, limits: Limits, budget: Budget
) -> Iterator[Problem]:
    """Problems known from a member's header; a skipping one ends the member (caller checks ``skipped``)."""
    if unsafe_member_name(name):
        yield Problem.warning(
            child,
            f"member name {name!r} points outside the archive (path traversal); read in memory only",
            "path_traversal",
        )
    if size > limits.max_member_bytes:
        yield Problem(
            child,
            ArchiveError(
                f"member of {size} bytes exceeds the {limits.max_member_bytes}-byte limit; skipped",
                path=str(child),
                code="member_too_large",
            ),
        )
    elif packed is not None and size >= limits.ratio_min_bytes and size > limits.max_ratio * max(packed, 1):
        yield Problem(
            child,
            ArchiveError(
                f"compression ratio {size / max(packed, 1):.0f}:1 exceeds "
                f"{limits.max_ratio:.0f}:1 (zip bomb); skipped",
                path=str(child),
                code="zip_bomb",
            ),
        )
    elif not budget.fits(size):
        yield Problem(
            child,
            ArchiveError(
                f"source would decompress to more than {limits.max_source_bytes} bytes (zip bomb); skipped",
                path=str(child),
                code="zip_bomb",
            ),
        )


def _read_capped(stream: BinaryIO, cap: int, child: EvidencePath) -> bytes:
    data = stream.read(cap + 1)
    if len(data) > cap:  # the header lied about the size
        raise ArchiveError(
            f"member decompresses past the {cap}-byte limit (zip bomb); skipped",
            path=str(child),
            code="zip_bomb",
        )
    return data


def _zip(
    ev: EvidencePath, fh: BinaryIO, depth: int, limits: Limits, budget: Budget, want: Want
) -> Iterator[Item]:
    try:
        zf = zipfile.ZipFile(fh)
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except _ARCHIVE_ERRORS as exc:
        yield Problem.warning(ev, f"cannot open zip: {exc}", "corrupt_archive")
        return
    with zf:
        if len(infos) > limits.max_members:
            yield Problem.warning(
                ev,
                f"{len(infos)} members exceed the limit of {limits.max_members}; only the first are read",
                "too_many_members",
            )
            infos = infos[: limits.max_members]
        for info in sorted(infos, key=lambda i: i.filename):
            child = ev.child(info.filename)
            problems = list(
                _precheck(child, info.filename, info.file_size, info.compress_size, limits, budget)
            )
            yield from problems
            if any(p.skipped for p in problems):
                continue
            if info.flag_bits & 0x1:
                yield Problem(
                    child, ArchiveError("encrypted member; not read", path=str(child), code="encrypted")
                )
                continue
            try:
                with zf.open(info) as stream:
                    if not want(child):
                        head = stream.read(HEADER_BYTES)
                        if kind_of(sniff(head)) not in ("archive", "disk"):
                            continue  # already processed and nothing inside: no need to decompress it all
                        data = head + _read_capped(stream, limits.max_member_bytes - len(head), child)
                    else:
                        data = _read_capped(stream, limits.max_member_bytes, child)
            except (ArchiveError, *_ARCHIVE_ERRORS) as exc:
                yield _unreadable_member(child, exc)
                continue
            budget.spend(len(data))
            yield from _member(ev, child, data, depth, limits, budget, want)


def _unreadable_member(child: EvidencePath, exc: BaseException) -> Problem:
    """A member that cannot be read becomes a problem naming it; the walk goes on with the next."""
    if isinstance(exc, ArchiveError):
        return Problem(child, exc)
    return Problem(child, ArchiveError(f"cannot read member: {exc}", path=str(child), code="corrupt_member"))


def _tar(
    ev: EvidencePath, fh: BinaryIO, mime: str, depth: int, limits: Limits, budget: Budget, want: Want
) -> Iterator[Item]:
    try:
        tf = tarfile.open(fileobj=fh, mode="r|*")  # streaming: works on any file object, never seeks back
    except tarfile.ReadError as exc:
        if mime != "application/x-tar":
            return  # a compressed single file, not a tar: nothing inside to walk
        yield Problem.warning(ev, f"cannot open tar: {exc}", "corrupt_archive")
        return
    except _ARCHIVE_ERRORS as exc:
        yield Problem.warning(ev, f"cannot open archive: {exc}", "corrupt_archive")
        return
    count = 0
    with tf:
        while True:
            try:
                info = tf.next()
            except _ARCHIVE_ERRORS as exc:
                yield Problem.warning(ev, f"archive damaged after {count} members: {exc}", "corrupt_archive")
                return
            if info is None:
                return
            if not info.isreg():
                continue  # folders, links and devices hold no content of their own
            count += 1
            if count > limits.max_members:
                yield Problem.warning(
                    ev, f"more than {limits.max_members} members; the rest are not read", "too_many_members"
                )
                return
            child = ev.child(info.name)
            problems = list(_precheck(child, info.name, info.size, None, limits, budget))
            yield from problems
            if any(p.skipped for p in problems):
                continue
            try:
                stream = tf.extractfile(info)
                if stream is None:
                    continue
                data = _read_capped(stream, limits.max_member_bytes, child)
            except (ArchiveError, *_ARCHIVE_ERRORS) as exc:
                yield _unreadable_member(child, exc)
                continue
            budget.spend(len(data))
            yield from _member(ev, child, data, depth, limits, budget, want)
