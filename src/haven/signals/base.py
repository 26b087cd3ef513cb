"""The signal-type extension point: one module per hash kind knows how to validate, compare,
encode and index its values. Adding a hash is one new file plus one ``register`` line.

Names are explicit constants (never derived from class names) because they are stored keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import ClassVar, Protocol

from haven.errors import FormatError


class SignalIndex(Protocol):
    """What every signal index offers: add/remove by integer id, query within a distance."""

    def add(self, ids: Sequence[int], values: Sequence[str]) -> None: ...

    def remove(self, ids: Iterable[int]) -> None: ...

    def query(self, value: str, threshold: int) -> list[tuple[int, int]]:
        """``(id, distance)`` of every stored value within ``threshold`` of ``value``."""
        ...

    def __len__(self) -> int: ...


class SignalType(ABC):
    """A kind of hash. Subclasses set ``name`` and implement ``validate`` and ``distance``."""

    name: ClassVar[str]
    #: Default match threshold (0 = exact match only).
    default_threshold: ClassVar[int] = 0
    #: Largest threshold that makes sense for this signal (0 for exact signals).
    max_threshold: ClassVar[int] = 0

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Return the canonical form of ``value`` or raise ``FormatError``."""

    @classmethod
    @abstractmethod
    def distance(cls, a: str, b: str) -> int:
        """Distance between two canonical values (0 = identical)."""

    @classmethod
    def matches(cls, a: str, b: str, threshold: int | None = None) -> bool:
        t = cls.default_threshold if threshold is None else threshold
        return cls.distance(a, b) <= t

    @classmethod
    def encode(cls, value: str) -> bytes:
        """Canonical value → raw bytes (for compact storage and indexes)."""
        return bytes.fromhex(cls.validate(value))

    @classmethod
    def decode(cls, raw: bytes) -> str:
        return raw.hex()

    @classmethod
    @abstractmethod
    def make_index(cls) -> SignalIndex:
        """A new, empty in-memory index for this signal."""

    @classmethod
    def examples(cls) -> list[str]:
        """A few valid values, for generated tests and docs."""
        return []


class HexDigestSignal(SignalType):
    """A cryptographic digest of file bytes: lower-case hex of fixed length, exact match only."""

    hex_length: ClassVar[int]
    hashlib_name: ClassVar[str]

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if len(v) != cls.hex_length or any(c not in "0123456789abcdef" for c in v):
            raise FormatError(f"not a valid {cls.name} value (want {cls.hex_length} hex digits): {value!r:.80}")
        return v

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return 0 if a == b else 1

    @classmethod
    def make_index(cls) -> SignalIndex:
        return ExactIndex()


class ExactIndex:
    """Exact-value index (dict of value → ids): the index of every digest signal."""

    def __init__(self) -> None:
        self._by_value: dict[str, set[int]] = {}
        self._by_id: dict[int, str] = {}

    def add(self, ids: Sequence[int], values: Sequence[str]) -> None:
        for i, v in zip(ids, values, strict=True):
            self.remove([i])
            self._by_id[i] = v
            self._by_value.setdefault(v, set()).add(i)

    def remove(self, ids: Iterable[int]) -> None:
        for i in ids:
            v = self._by_id.pop(i, None)
            if v is not None:
                bucket = self._by_value[v]
                bucket.discard(i)
                if not bucket:
                    del self._by_value[v]

    def query(self, value: str, threshold: int = 0) -> list[tuple[int, int]]:
        return [(i, 0) for i in sorted(self._by_value.get(value, ()))]

    def __len__(self) -> int:
        return len(self._by_id)
