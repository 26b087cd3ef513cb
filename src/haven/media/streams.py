"""Byte streams for the walk: every read bounded, every byte a container yields counted.

- ``decompressed``: a gzip/bzip2/xz stream as a reader whose every ``read(n)`` returns at most
  ``n`` bytes (the standard library's file classes decompress with ``max_length``; tarfile's own
  streaming mode does not, and re-copies its whole buffer on every read).
- ``Metered``: spends each block it passes from the source's ``Budget`` (a ``BombError`` once over).
- ``Tee``: passes a stream on to a reader (a nested tar) while feeding the hashers, so a member
  too big to hold is walked and hashed in one pass.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from typing import BinaryIO, Protocol

from haven.media.evidence import EvidencePath
from haven.media.items import BLOCK, Hashers
from haven.media.limits import Budget

COMPRESSED = ("application/gzip", "application/x-bzip2", "application/x-xz")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def decompressed(fh: BinaryIO, mime: str) -> Readable:
    """The decompressed content of a gzip/bzip2/xz stream (concatenated streams included)."""
    if mime == "application/gzip":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if mime == "application/x-bzip2":
        return bz2.BZ2File(fh, mode="rb")
    if mime == "application/x-xz":
        return lzma.LZMAFile(fh, mode="rb")
    return fh


class ByteReader(io.RawIOBase):
    """A read-only stream defined by its ``read``, which returns at most ``BLOCK`` bytes a call
    (never everything at once: a bomb would be inflated before it is counted)."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        return self.read_block(BLOCK if size is None or size < 0 else min(size, BLOCK))

    def read_block(self, size: int) -> bytes:
        """Up to ``size`` (1 to ``BLOCK``) bytes; empty at the end."""
        raise NotImplementedError

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Metered(ByteReader):
    """A read-only view of ``inner`` that spends every byte it passes from ``budget`` (charged to
    ``where``)."""

    def __init__(self, inner: Readable, budget: Budget, where: EvidencePath) -> None:
        super().__init__()
        self._inner = inner
        self._budget = budget
        self.where = where

    def read_block(self, size: int) -> bytes:
        data = self._inner.read(size)
        if data:
            self._budget.spend(len(data), self.where)
        return data


class Tee(ByteReader):
    """``head`` then the rest of ``inner``, every byte passed also fed to ``hashers``; ``drain`` reads what is
    left."""

    def __init__(self, head: bytes, inner: Readable, hashers: Hashers) -> None:
        super().__init__()
        self._head = head
        self._inner = inner
        self.hashers = hashers

    def read_block(self, size: int) -> bytes:
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
        else:
            data = self._inner.read(size)
        self.hashers.update(data)
        return data

    def drain(self) -> None:
        while self.read(BLOCK):
            pass


def read_up_to(stream: Readable, size: int) -> bytes:
    """Up to ``size`` bytes, in blocks (fewer only at the end of the stream)."""
    chunks, got = [], 0
    while got < size:
        block = stream.read(min(BLOCK, size - got))
        if not block:
            break
        chunks.append(block)
        got += len(block)
    return b"".join(chunks)
