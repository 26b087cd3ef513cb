"""PDQ: Meta's 256-bit perceptual image hash, compared by Hamming distance.

Hashes come from the bit-exact kernel (``haven.hashing.pdq``); look-ups from the exact multi-index
Hamming index (``haven.index``). Variants offered as extra look-up values: the 8 rotations and flips
(``dihedral``; for a small image also hashed from moved pixels when ``robust``), a small image's hash as
if upscaled (``upscaled``, ``haven.hashing.ladder``), a fallback looked up only when the image's own hash
matched nothing, and with ``robust`` the hash without borders, after equalisation and of each half
(``haven.hashing.variants``). ``bank_variants`` adds the values a bank entry stores beside its hash
(crops, rotations, no borders, equalised, tones, halves), which a query then matches in the entry's place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from haven.errors import FormatError
from haven.signals.base import (
    DecodedImage,
    HashOptions,
    ImageHasher,
    Input,
    LookupKind,
    SignalHash,
    SignalIndex,
    SignalType,
    Variant,
)

#: ThreatExchange guidance (pdq/README.md): match at distance <= 31, ignore quality < 50.
PDQ_MATCH_THRESHOLD = 31
PDQ_MIN_QUALITY = 50
DIHEDRAL = "dihedral"
UPSCALED = "upscaled"
PIXEL_DIHEDRAL = "pixel_dihedral"


class PdqSignal(ImageHasher, SignalType):
    name = "pdq"
    lookup = LookupKind.DISTANCE
    input = Input.IMAGE
    default_threshold = PDQ_MATCH_THRESHOLD
    max_threshold = 128
    min_quality = PDQ_MIN_QUALITY
    canonical = re.compile(r"[0-9a-f]{64}")
    max_length = 64
    description = "PDQ perceptual image hash: 64 hex digits, matched by Hamming distance"
    aliases = {"pytx": "pdq", "hma": "pdq"}

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
    def weak_value(cls, value: str, quality: int | None = None) -> str | None:
        if value.strip("0") == "" or value.strip("f") == "":
            return "every bit is the same: the PDQ of a flat image, which matches any other flat image"
        return super().weak_value(value, quality)

    @classmethod
    def make_index(cls) -> SignalIndex:
        from haven.index import PdqSignalIndex  # the exact multi-index Hamming index

        return PdqSignalIndex()

    @classmethod
    def hash_image(cls, image: DecodedImage, options: HashOptions) -> SignalHash:
        from haven.hashing.ladder import upscaled_pdq
        from haven.hashing.pdq import pdq_from_pixels
        from haven.hashing.variants import bank_variants

        pdq = pdq_from_pixels(image.pixels, dihedral=options.dihedral)
        variants = [Variant(DIHEDRAL, name, value) for name, value in (pdq.dihedral or {}).items()
                    if name != "orig"]
        if options.upscaled and image.full_size:  # (a JPEG decoded at reduced size is never upscaled)
            variants += [Variant(UPSCALED, str(side), value, fallback=True)
                         for side, value in upscaled_pdq(image.pixels).items()]
        if options.robust:
            variants += _robust_variants(image.pixels, pdq.hash, options.dihedral)
        if options.bank_variants:
            variants += [Variant(family, key, value, stored=True)
                         for family, key, value in bank_variants(image.pixels) if value != pdq.hash]
        return SignalHash(pdq.hash, pdq.quality, tuple(variants))

    @classmethod
    def quality_key(cls) -> str:
        return "quality"  # the key `haven hash --json` has always used

    @classmethod
    def variants_output(cls, value: str, variants: Sequence[Variant]) -> dict[str, Any]:
        out = super().variants_output(value, [v for v in variants if v.family != DIHEDRAL])
        dihedral = {v.key: v.value for v in variants if v.family == DIHEDRAL}
        if dihedral:  # all 8 under "dihedral", the original first, as `haven hash --dihedral` prints them
            out[DIHEDRAL] = {"orig": value, **dihedral}
        return out

    @classmethod
    def variant_match_fields(cls, variant: Variant) -> dict[str, Any]:
        if variant.family == UPSCALED:
            return {"upscaled_to": int(variant.key)}
        if variant.stored:
            return {"bank_variant": variant.label}
        return {"variant": variant.label}

    @classmethod
    def variant_text(cls, variant: Variant) -> str:
        if variant.family == UPSCALED:
            return f"upscaled to {variant.key} px"
        if variant.stored:
            return f"via the entry's {variant.label} variant"
        return f"{variant.key} variant"

    @classmethod
    def examples(cls) -> list[str]:
        # pdqhash values of ../shared/reference/pdq/images/bridge-mods/aaa-orig.jpg and blur-a-lot.jpg
        return [
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22",
        ]


def _robust_variants(pixels: Any, value: str, dihedral: bool) -> list[Variant]:
    """The query-side values of ``HashOptions.robust`` (``haven.hashing.variants``), those that differ
    from the hash itself."""
    from haven.hashing.variants import (
        EQUALIZED,
        HALF,
        TRIM,
        equalized_value,
        half_values,
        pixel_dihedral,
        trimmed_values,
    )

    found: list[tuple[str, str, str | None]] = [(TRIM, k, v) for k, v in trimmed_values(pixels).items()]
    found.append((EQUALIZED, "histogram", equalized_value(pixels)))
    found += [(HALF, k, v) for k, v in half_values(pixels).items()]
    out = [Variant(family, key, v) for family, key, v in found if v is not None and v != value]
    if dihedral:
        out += [Variant(PIXEL_DIHEDRAL, k, v) for k, v in pixel_dihedral(pixels).items()]
    return out
