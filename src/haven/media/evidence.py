"""EvidencePath: the stable address of a file inside nested containers ("img in zip in disk image").

Like a dfvfs path spec it is a parent chain, kept apart from opening: ``parts[0]`` is the
source's absolute path on the examiner's machine, each later part the member's name inside
the container named by the part before it. The string form joins parts with ``!/``::

    /cases/42/seizure.zip!/dcim/a.zip!/img1.jpg

``%`` and ``!`` inside a part are percent-escaped, so any member name (even ``../x`` or one
containing ``!/``) round-trips exactly and can never be confused with a separator.
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "!/"


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace("!", "%21")


def _unescape(part: str) -> str:
    return part.replace("%21", "!").replace("%25", "%")


@dataclass(frozen=True, order=True)
class EvidencePath:
    """An address of one file: the source path, then one member name per nested container."""

    parts: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("an EvidencePath needs at least the source path")

    @classmethod
    def source(cls, path: str) -> EvidencePath:
        """The address of a source file or folder entry on the examiner's file system."""
        return cls((path,))

    def child(self, member: str) -> EvidencePath:
        """The address of ``member`` inside the container this path names."""
        return EvidencePath((*self.parts, member))

    @property
    def parent(self) -> EvidencePath | None:
        """The container holding this file, or None for a file on the file system."""
        return EvidencePath(self.parts[:-1]) if len(self.parts) > 1 else None

    @property
    def depth(self) -> int:
        """How many containers deep the file sits (0 = on the file system)."""
        return len(self.parts) - 1

    @property
    def name(self) -> str:
        """The last component's file name (no folders)."""
        last = self.parts[-1].rstrip("/")
        return last.rsplit("/", 1)[-1] or last

    def __str__(self) -> str:
        return SEPARATOR.join(_escape(p) for p in self.parts)

    @classmethod
    def parse(cls, text: str) -> EvidencePath:
        """Inverse of ``str()``."""
        return cls(tuple(_unescape(p) for p in text.split(SEPARATOR)))
