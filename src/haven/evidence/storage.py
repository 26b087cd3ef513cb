"""Where the vault's encrypted blobs live: a small ``BlobStore`` interface, and the local file system.

An object store (S3, GCS, Azure) replaces ``LocalBlobStore`` by implementing the same four methods; blobs
are already encrypted and authenticated, so the store need not be trusted with anything but availability.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

from haven.errors import IntegrityError, StorageError

_NAME = re.compile(r"[0-9a-f]{32}\.[a-z]+(\.[0-9]+)?")


class BlobStore(Protocol):
    """Keeps opaque blobs by name (the vault names them ``<32 hex>.<kind>``)."""

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` durably (replacing nothing: names are never reused)."""
        ...

    def get(self, name: str) -> bytes:
        """The blob's bytes; ``IntegrityError`` if it is missing."""
        ...

    def delete(self, name: str) -> None:
        """Remove the blob if present."""
        ...

    def exists(self, name: str) -> bool: ...


class LocalBlobStore:
    """Blobs as files under ``root/ab/<name>``, written atomically (temporary file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise StorageError(f"not a vault blob name: {name!r}")
        return self.root / name[:2] / name

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"{path}: cannot write a vault blob: {exc.strerror}") from exc

    def get(self, name: str) -> bytes:
        path = self._path(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"vault blob {name} is missing from {self.root}") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot read a vault blob: {exc.strerror}") from exc

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self._path(name).exists()
