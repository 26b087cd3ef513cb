"""Toy signals for Haven's plug-in test: what an organisation with its own hash writes, and nothing else.

- ``ahash``: a 64-bit average hash of the image (8×8 grey, each pixel above the mean is a 1), compared by
  Hamming distance, searched with a brute-force index of its own.
- ``crc32``: the CRC-32 of the file's bytes, matched exactly.

Neither is a good hash; they only prove that a signal from another package is hashed, banked, exported,
imported and matched by Haven unchanged.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from haven.errors import FormatError
from haven.signals import (
    BytesHasher,
    DecodedImage,
    HashOptions,
    ImageHasher,
    Input,
    LookupKind,
    SignalHash,
    SignalType,
)


def _hex(value: str, digits: int, name: str) -> str:
    v = value.strip().lower() if isinstance(value, str) else ""
    if len(v) != digits or any(c not in "0123456789abcdef" for c in v):
        raise FormatError(f"not a valid {name} value (want {digits} hex digits): {value!r:.80}")
    return v


class BruteForceIndex:
    """Every stored value compared with every query: fine for a toy."""

    def __init__(self) -> None:
        self.values: dict[int, int] = {}

    def add(self, ids: Any, values: Sequence[str]) -> None:
        for i, v in zip(list(ids), values, strict=True):
            self.values[int(i)] = int(v, 16)

    def remove(self, ids: Iterable[int]) -> None:
        for i in list(ids):
            self.values.pop(int(i), None)

    def query_flat(self, values: Sequence[str], threshold: int, *, threads: int = 1
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts, ids, dists = [], [], []
        for v in values:
            q = int(v, 16)
            hits = sorted(
                (bin(q ^ s).count("1"), i)
                for i, s in self.values.items()
                if bin(q ^ s).count("1") <= threshold
            )
            counts.append(len(hits))
            ids += [i for _, i in hits]
            dists += [d for d, _ in hits]
        return np.array(counts, np.int64), np.array(ids, np.int64), np.array(dists, np.int32)

    def __len__(self) -> int:
        return len(self.values)


class AverageHash(ImageHasher, SignalType):
    name = "ahash"
    lookup = LookupKind.DISTANCE
    input = Input.IMAGE
    default_threshold = 6
    max_threshold = 32
    canonical = re.compile(r"[0-9a-f]{16}")
    max_length = 16
    description = "toy 64-bit average hash (16 hex digits), matched by Hamming distance"

    @classmethod
    def validate(cls, value: str) -> str:
        return _hex(value, 16, cls.name)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def make_index(cls) -> BruteForceIndex:
        return BruteForceIndex()

    @classmethod
    def hash_image(cls, image: DecodedImage, options: HashOptions) -> SignalHash:
        grey = np.asarray(
            Image.fromarray(image.pixels).convert("L").resize((8, 8), Image.Resampling.BOX), dtype=np.float64
        )
        bits = (grey > grey.mean()).flatten()
        return SignalHash(f"{int(''.join('1' if b else '0' for b in bits), 2):016x}")

    @classmethod
    def examples(cls) -> list[str]:
        return ["f0f0f0f00f0f0f0f", "0000ffff0000ffff"]


class _Crc32Digest:
    def __init__(self) -> None:
        self.crc = 0

    def update(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)

    def hexdigest(self) -> str:
        return f"{self.crc:08x}"


class Crc32(BytesHasher, SignalType):
    name = "crc32"
    lookup = LookupKind.EXACT
    input = Input.BYTES
    canonical = re.compile(r"[0-9a-f]{8}")
    max_length = 8
    description = "toy CRC-32 of the file's bytes (8 hex digits), exact match"

    @classmethod
    def validate(cls, value: str) -> str:
        return _hex(value, 8, cls.name)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return 0 if a == b else 1

    @classmethod
    def new_digest(cls) -> _Crc32Digest:
        return _Crc32Digest()

    @classmethod
    def examples(cls) -> list[str]:
        return ["00000000", "352441c2"]  # CRC-32 of b"" and of b"abc"
