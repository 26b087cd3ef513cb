"""PDQ: Meta's 256-bit perceptual image hash, compared by Hamming distance."""

from __future__ import annotations

from haven.errors import FormatError
from haven.signals.base import SignalIndex, SignalType

#: ThreatExchange guidance (pdq/README.md): match at distance <= 31, ignore quality < 50.
PDQ_MATCH_THRESHOLD = 31
PDQ_MIN_QUALITY = 50


class PdqSignal(SignalType):
    name = "pdq"
    default_threshold = PDQ_MATCH_THRESHOLD
    max_threshold = 128

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise FormatError(f"not a valid PDQ hash (want 64 hex digits): {value!r:.80}")
        return v

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def make_index(cls) -> SignalIndex:
        from haven.index import PdqSignalIndex  # the exact multi-index Hamming index

        return PdqSignalIndex()

    @classmethod
    def examples(cls) -> list[str]:
        # pdqhash values of ../shared/reference/pdq/images/bridge-mods/aaa-orig.jpg and blur-a-lot.jpg
        return [
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22",
        ]
