"""What a walk yields: an ``Entry`` for each file found, a ``Problem`` for each thing wrong or not read.

Shared by the walker (folders, zip, tar) and the disk-image reader, so neither imports the
other's private names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from haven.errors import ArchiveError, BombError, FileAccessError, HavenError, InputError
from haven.media.evidence import EvidencePath
from haven.media.sniff import kind_of
from haven.signals import BytesHasher, Input, all_signals

Want = Callable[[EvidencePath], bool]
BLOCK = 1024 * 1024  # bytes per read when streaming a file or member through the hashers


Digests = dict[str, str]  # signal name → hex digest of a file's bytes


class Hashers:
    """Every byte signal of the registry (MD5, SHA-1, SHA-256 …), fed together block by block: one
    read of a member feeds all of them, as ``haven.hashing`` does for a file."""

    def __init__(self) -> None:
        self._all = {
            s.name: s.new_digest()
            for s in all_signals()
            if s.input is Input.BYTES and issubclass(s, BytesHasher)
        }
        self.size = 0

    def update(self, block: bytes | memoryview) -> None:
        for h in self._all.values():
            h.update(block)
        self.size += len(block)

    def digests(self) -> Digests:
        return {name: h.hexdigest() for name, h in self._all.items()}


@dataclass
class Entry:
    """One file found in the evidence, in one of three forms:

    - on the examiner's file system (``os_path``): whoever processes it reads it;
    - an archive member held in memory (``data``): small files, and images or containers that
      must be decoded or opened (bounded by the walk's hold limit);
    - a member too big to hold, already streamed through the hashers by the walk (``digests``).
    """

    path: EvidencePath
    mime: str
    size: int
    os_path: str | None = None
    data: bytes | None = None
    digests: Digests | None = None

    @property
    def kind(self) -> str:
        return kind_of(self.mime)

    def read(self, limit: int | None = None) -> bytes:
        """The file's bytes (a folder's file is read now, at most ``limit`` bytes; a member is in memory)."""
        if self.data is not None:
            return self.data
        if self.os_path is None:
            raise FileAccessError(
                "too big to hold in memory; only its digests were taken", path=str(self.path), code="not_held"
            )
        try:
            with open(self.os_path, "rb") as fh:
                return fh.read() if limit is None else fh.read(limit)
        except OSError as exc:
            raise FileAccessError(
                f"cannot read: {os_error_text(exc)}", path=str(self.path), code="unreadable"
            ) from exc


def os_error_text(exc: BaseException) -> str:
    """A useful message for an OSError, also for those raised by C libraries without ``strerror``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@dataclass
class Problem:
    """Something wrong at ``path``; ``skipped`` says whether the file itself was left out."""

    path: EvidencePath
    error: InputError
    skipped: bool = True

    @classmethod
    def warning(cls, path: EvidencePath, message: str, code: str) -> Problem:
        """A problem at ``path`` that does not leave the file itself out (its row is still written)."""
        return cls(path, ArchiveError(message, path=str(path), code=code), skipped=False)

    @classmethod
    def skip(cls, path: EvidencePath, message: str, code: str) -> Problem:
        """A file that was found but not read (a bomb, over a limit, damaged): named, never silently lost."""
        return cls(path, ArchiveError(message, path=str(path), code=code), skipped=True)


Item = Entry | Problem


class MemberNames:
    """Occurrence numbers for the members of one container: the n-th member named x is ``x#n``."""

    def __init__(self, parent: EvidencePath) -> None:
        self.parent = parent
        self._seen: Counter[str] = Counter()

    def child(self, name: str) -> EvidencePath:
        self._seen[name] += 1
        return self.parent.child(name, self._seen[name])


def guarded(ev: EvidencePath, items: Iterator[Item]) -> Iterator[Item]:
    """``items``; whatever a container's reader raises ends that container with a problem naming it.

    Hostile input makes parsers, and the C libraries under them, raise anything; one container
    must never end the walk of the others, nor of the other sources.
    """
    try:
        yield from items
    except BombError as exc:
        yield Problem(ev, exc, skipped=False)
    except HavenError as exc:
        message = exc.message.removeprefix(f"{ev}: ")
        yield Problem.warning(ev, f"container not read to its end: {message}", exc.code)
    except Exception as exc:  # noqa: BLE001 - see above: the walk goes on
        yield Problem.warning(
            ev,
            f"container damaged; not read past here: {type(exc).__name__}: {os_error_text(exc)}",
            "corrupt_archive",
        )
