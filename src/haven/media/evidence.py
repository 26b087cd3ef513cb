"""EvidencePath: the stable address of a file inside nested containers ("img in zip in disk image").

Like a dfvfs path spec it is a parent chain, kept apart from opening: ``parts[0]`` is the
source's absolute path on the examiner's machine, each later part the member's name inside
the container named by the part before it. The string form joins parts with ``!/``::

    /cases/42/seizure.zip!/dcim/a.zip!/img1.jpg
    /cases/42/seizure.zip!/dcim/dup.jpg#2              # the second member of that name

Names are kept exactly as the evidence holds them, so the string form escapes what could be
mistaken for structure or cannot be written as text, percent-style (``%XX``, ``%uXXXX``):

- ``%`` and ``!`` everywhere, ``#`` in member names (the occurrence suffix follows an unescaped ``#``);
- control characters (a newline in a name never splits a line of a report or log);
- bytes that are not valid UTF-8. A name read from the file system or an archive keeps such
  bytes as Python's ``surrogateescape`` code points (U+DC80–U+DCFF), written ``%FF`` for the
  byte 0xFF, so the original bytes are recoverable (``os.fsencode`` of the part) and every
  string form is valid UTF-8. Any other lone surrogate is written ``%uDXXX``.

Archives can hold several members with one name (zip and tar allow it; a crafted zip uses it
to hide a file behind another). Each is its own item: the first keeps the name, the n-th gets
``#n`` (``occurrences``), so every member has a distinct address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from haven.errors import InputError

SEPARATOR = "!/"

_ESCAPE = re.compile(r"[%!\x00-\x1f\x7f\ud800-\udfff]")
_ESCAPE_MEMBER = re.compile(r"[%!#\x00-\x1f\x7f\ud800-\udfff]")
_UNESCAPE = re.compile(r"%(?:u([0-9A-Fa-f]{4})|([0-9A-Fa-f]{2}))")


def _code(match: re.Match[str]) -> str:
    c = ord(match.group())
    if 0xDC80 <= c <= 0xDCFF:  # a byte that was not valid UTF-8 (surrogateescape)
        return f"%{c - 0xDC00:02X}"
    if c > 0xFF:
        return f"%u{c:04X}"
    return f"%{c:02X}"


def _char(match: re.Match[str]) -> str:
    if match.group(1):
        return chr(int(match.group(1), 16))
    byte = int(match.group(2), 16)
    return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)


def _escape(part: str, member: bool) -> str:
    return (_ESCAPE_MEMBER if member else _ESCAPE).sub(_code, part)


def _unescape(part: str) -> str:
    return _UNESCAPE.sub(_char, part)


def display(text: str) -> str:
    """``text`` as valid UTF-8 text: unchanged unless it holds undecodable bytes or control characters."""
    return _ESCAPE.sub(lambda m: m.group() if m.group() in "%!" else _code(m), text)


@dataclass(frozen=True, order=True)
class EvidencePath:
    """An address of one file: the source path, then one member name per nested container.

    ``occurrences[i]`` (1-based) tells which of several same-named members of its container
    ``parts[i]`` is; it is empty when every part is the first of its name.
    """

    parts: tuple[str, ...]
    occurrences: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.parts:
            raise InputError("an evidence path needs at least the source path", code="bad_evidence_path")
        if self.occurrences and len(self.occurrences) != len(self.parts):
            raise InputError(
                f"{len(self.occurrences)} occurrence numbers for {len(self.parts)} parts",
                code="bad_evidence_path",
            )
        if any(n < 1 for n in self.occurrences):
            raise InputError("occurrence numbers start at 1", code="bad_evidence_path")
        if self.occurrences and all(n == 1 for n in self.occurrences):
            object.__setattr__(self, "occurrences", ())

    @classmethod
    def source(cls, path: str) -> EvidencePath:
        """The address of a source file or folder entry on the examiner's file system."""
        return cls((path,))

    def _occurrence(self, i: int) -> int:
        return self.occurrences[i] if self.occurrences else 1

    def child(self, member: str, occurrence: int = 1) -> EvidencePath:
        """The address of ``member`` (its ``occurrence``-th of that name) inside the container this path
        names."""
        counts = (*(self._occurrence(i) for i in range(len(self.parts))), occurrence)
        return EvidencePath((*self.parts, member), counts)

    @property
    def parent(self) -> EvidencePath | None:
        """The container holding this file, or None for a file on the file system."""
        if len(self.parts) == 1:
            return None
        return EvidencePath(self.parts[:-1], self.occurrences[:-1])

    @property
    def depth(self) -> int:
        """How many containers deep the file sits (0 = on the file system)."""
        return len(self.parts) - 1

    @property
    def name(self) -> str:
        """The last component's file name (no folders), as the evidence holds it."""
        last = self.parts[-1].rstrip("/")
        return last.rsplit("/", 1)[-1] or last

    def __str__(self) -> str:
        out = []
        for i, part in enumerate(self.parts):
            text = _escape(part, member=i > 0)
            n = self._occurrence(i)
            out.append(f"{text}#{n}" if n > 1 else text)
        return SEPARATOR.join(out)

    @classmethod
    def parse(cls, text: str) -> EvidencePath:
        """Inverse of ``str()``."""
        pieces = text.split(SEPARATOR)
        parts, counts = [_unescape(pieces[0])], [1]
        for piece in pieces[1:]:
            name, hash_, n = piece.rpartition("#")
            if hash_ and n.isdigit() and int(n) > 1:
                parts.append(_unescape(name))
                counts.append(int(n))
            else:
                parts.append(_unescape(piece))
                counts.append(1)
        return cls(tuple(parts), tuple(counts))
