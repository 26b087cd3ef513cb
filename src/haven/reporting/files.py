"""Where report files come from: a small ``FileSource`` protocol (local paths now, the evidence vault later).

The service reads each file twice: once when the report is created (hashes recorded) and once when it is
uploaded; the upload re-hashes what it sends and refuses a file whose bytes changed in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from haven.errors import FileAccessError
from haven.hashing.crypto import digest_stream


@dataclass(frozen=True)
class FileFacts:
    name: str
    size: int
    md5: str
    sha1: str
    sha256: str


class FileSource(Protocol):
    """Opens report files by URI; the evidence vault will implement this too."""

    def open(self, uri: str) -> BinaryIO:
        """A binary stream of the file's bytes (caller closes it); ``FileAccessError`` if unavailable."""
        ...

    def name(self, uri: str) -> str:
        """The file name to show NCMEC (never a full local path)."""
        ...


def facts(source: FileSource, uri: str) -> FileFacts:
    """Stream the file once and return its size and MD5/SHA-1/SHA-256."""
    with source.open(uri) as fh:
        digests, size = digest_stream(fh, ("md5", "sha1", "sha256"))  # what a CyberTipline file carries
    return FileFacts(source.name(uri), size, digests["md5"], digests["sha1"], digests["sha256"])


class LocalFileSource:
    """Files on the local file system; URIs are paths (``file://`` prefix allowed)."""

    def _path(self, uri: str) -> Path:
        return Path(uri.removeprefix("file://"))

    def open(self, uri: str) -> BinaryIO:
        p = self._path(uri)
        try:
            if p.is_dir():
                raise FileAccessError("is a directory", path=p, code="is_directory")
            return p.open("rb")
        except FileNotFoundError:
            raise FileAccessError("no such file", path=p, code="not_found") from None
        except PermissionError:
            raise FileAccessError("permission denied", path=p, code="permission_denied") from None

    def name(self, uri: str) -> str:
        return self._path(uri).name
