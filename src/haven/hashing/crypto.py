"""Cryptographic digests of file bytes, streamed: one read feeds every algorithm."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import BinaryIO

CRYPTO_ALGORITHMS = ("md5", "sha1", "sha256")
CHUNK = 1024 * 1024


def digest_stream(stream: BinaryIO, algorithms: Iterable[str]) -> tuple[dict[str, str], int]:
    """Hex digests of everything left in ``stream`` and the number of bytes read.

    Memory stays at one chunk whatever the file size.
    """
    hashers = {name: hashlib.new(name) for name in algorithms}
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        for h in hashers.values():
            h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}, total


def digest_bytes(data: bytes, algorithms: Iterable[str]) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in algorithms}
