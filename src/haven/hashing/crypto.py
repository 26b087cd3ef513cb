"""Cryptographic digests, streamed: one read of a file feeds every algorithm. The one digest loop in
Haven (signals, bank imports, report files, triage manifests all call it)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1024 * 1024


def stream_digests(stream: BinaryIO, hashers: Mapping[str, Any]) -> tuple[dict[str, str], int]:
    """Feed everything left in ``stream`` to each hashlib-like object; ``({name: hex}, bytes read)``.

    Memory stays at one chunk whatever the size.
    """
    total = 0
    while chunk := stream.read(CHUNK):
        total += len(chunk)
        for h in hashers.values():
            h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}, total


def digest_stream(stream: BinaryIO, algorithms: Iterable[str]) -> tuple[dict[str, str], int]:
    """Hex digests (hashlib algorithm names) of everything left in ``stream``, and the bytes read."""
    return stream_digests(stream, {name: hashlib.new(name) for name in algorithms})


def digest_file(path: str | Path, algorithms: Iterable[str] = ("sha256",)) -> tuple[dict[str, str], int]:
    """``digest_stream`` of a file on disk."""
    with open(path, "rb") as fh:
        return digest_stream(fh, algorithms)


def digest_bytes(data: bytes, algorithms: Iterable[str]) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in algorithms}
