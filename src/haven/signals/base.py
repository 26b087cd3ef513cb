"""The signal contract: one module per kind of hash knows how to hash, validate, compare, encode and
look itself up. Everything else in Haven (hashing, banks, matching, triage, the service, the CLI)
works from this contract and the registry, never from a signal's name.

A signal declares:

- ``name``: a stored key (bank entries, case databases, API fields), so an explicit constant — never
  derived from the class name — of lower-case letters, digits and ``_``;
- ``lookup``: how the ``Matcher`` finds bank entries for a value (``LookupKind``);
- ``input``: what it is computed from (``Input``: the file's bytes, decoded pixels, decoded video);
- how to validate, compare, encode and index its values, and ``examples()`` for the test battery.

Capabilities come as mixins, as python-threatexchange's ``signal_base`` does: a ``BytesHasher``
streams the file's bytes (``new_digest``), an ``ImageHasher`` hashes decoded pixels (``hash_image``), a
``VideoHasher`` hashes the sampled frames of a decoded video (``new_video_hasher``).

A ``FRAMES`` signal's value is a set of frame hashes of another signal (``frame_signal``: vPDQ's frames
are PDQ values); ``frames()`` lists them and the frame-set rule (``haven.signals.frames``) decides a match.
Settings a bank may give a signal beyond its threshold are declared in ``options`` (``SignalOption``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import numpy as np

from haven.errors import FormatError

#: A signal name is a stored key and a column name in case databases: keep it plain.
NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class LookupKind(StrEnum):
    """How bank entries of a signal are found for a query value."""

    EXACT = "exact"  # equal values only: looked up in the database's digest index, always fresh
    DISTANCE = "distance"  # values within a distance: an in-memory index per (bank, signal), kept in step
    FRAMES = "frames"  # a set of frame hashes matched by a frame-set rule (video)


class Input(StrEnum):
    """What a signal is computed from."""

    BYTES = "bytes"  # the file's bytes, streamed
    IMAGE = "image"  # decoded RGB pixels
    VIDEO = "video"  # decoded video frames


@dataclass(frozen=True)
class Variant:
    """Another value of the same signal for the same content (a rotation, the image as if upscaled),
    looked up beside the main one. A ``fallback`` variant is looked up only when the main value of
    its signal matched nothing."""

    family: str
    key: str
    value: str
    fallback: bool = False
    #: Stored beside a bank entry (a crop or rotation of the banked picture: ``HashOptions.bank_variants``)
    #: and matched in its place; never looked up as a query value.
    stored: bool = False

    @property
    def label(self) -> str:
        return f"{self.family}:{self.key}"


@dataclass(frozen=True)
class HashOptions:
    """What a caller asks of image signals beyond the value itself (each signal honours what applies)."""

    dihedral: bool = False  # the 8 rotations and flips, as extra look-up values
    upscaled: bool = False  # a small image's value as if upscaled (look-up fallbacks)
    frame_interval: float = 1.0  # video: seconds between sampled frames (0: every frame)
    robust: bool = False  # query side: the value without borders, equalised, of each half; exact flips
    bank_variants: bool = False  # bank side: values of crops, rotations … stored with the entry


@dataclass(frozen=True)
class SignalHash:
    """One signal's value for one input, with its quality (where the signal has one) and variants."""

    value: str
    quality: int | None = None
    variants: tuple[Variant, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DecodedImage:
    """Pixels as decoded (``H×W×3`` RGB uint8) and the image's own size (larger when decoded at a
    reduced size by the fast path)."""

    pixels: np.ndarray
    width: int
    height: int

    @property
    def full_size(self) -> bool:
        return tuple(self.pixels.shape[:2]) == (self.height, self.width)


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says, checked against the limits before any frame is decoded."""

    width: int
    height: int
    frame_rate: float  # frames per second (average rate; the stream's base rate when none is given)
    duration: float | None  # seconds, when the container says


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: its number in the video (from 0, decode order of shown frames), its time in
    seconds (``number / frame_rate``, as the vPDQ reference computes it), and its ``luma``: full-range
    ``H×W`` uint8 grey — what PDQ hashes — or, for the rare pixel formats without a usable Y plane, the
    ``H×W×3`` RGB FFmpeg converts it to (``rgb()`` gives colour pixels for signals that want them)."""

    number: int
    timestamp: float
    luma: np.ndarray
    rgb: Callable[[], np.ndarray]


class VideoAccumulator(Protocol):
    """Takes a video's sampled frames in order and gives the signal's value at the end."""

    def add(self, frame: VideoFrame) -> None: ...

    def finish(self) -> SignalHash: ...


@dataclass(frozen=True)
class SignalOption:
    """A per-bank setting of a signal's match rule beyond its threshold (an integer in ``lo..hi``),
    stored in the bank's thresholds as ``"<signal>.<name>"``."""

    name: str
    default: int
    lo: int
    hi: int
    help: str = ""


class SignalIndex(Protocol):
    """An in-memory index of one bank's values of one signal, by entry id (``LookupKind.DISTANCE``)."""

    def add(self, ids: np.ndarray, values: Sequence[str]) -> None: ...

    def remove(self, ids: Iterable[int] | np.ndarray) -> None: ...

    def query_flat(self, values: Sequence[str], threshold: int, *, threads: int = 1
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(counts, ids, distances)``: for query ``k``, ``counts[k]`` hits, laid end to end."""
        ...

    def __len__(self) -> int: ...


class SignalType(ABC):
    """A kind of hash (see the module docstring)."""

    name: ClassVar[str]
    lookup: ClassVar[LookupKind]
    input: ClassVar[Input]
    #: Default match threshold (0 for exact signals); a bank may set its own.
    default_threshold: ClassVar[int] = 0
    #: Largest threshold a bank or a query may ask for (0 for exact signals).
    max_threshold: ClassVar[int] = 0
    #: Values of a lower quality say little (flat images); bulk work may leave them out.
    min_quality: ClassVar[int | None] = None
    #: A canonical value matches this (a fast path for bulk imports), and its API pattern.
    canonical: ClassVar[re.Pattern[str]]
    #: Longest canonical value (API field limits).
    max_length: ClassVar[int]
    #: One line for help texts and the API schema.
    description: ClassVar[str] = ""
    #: Shown in the CLI's human tables (long digests are left to ``--json``).
    in_tables: ClassVar[bool] = True
    #: This signal's names in other systems' files and APIs: ``{"pytx": "video_md5", "hma": …}``.
    aliases: ClassVar[Mapping[str, str]] = {}
    #: Per-bank settings of the match rule beyond ``threshold`` (``SignalOption``), by name.
    options: ClassVar[Mapping[str, SignalOption]] = {}

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
    def is_canonical(cls, value: str) -> bool:
        """True when ``value`` is already canonical (then ``validate`` would return it unchanged)."""
        return isinstance(value, str) and cls.canonical.fullmatch(value) is not None

    @classmethod
    def value_pattern(cls) -> str:
        """The API's pattern for a value: the canonical form, any letter case."""
        return f"^(?i:{cls.canonical.pattern})$"

    @classmethod
    def encode(cls, value: str) -> bytes:
        """Canonical value → raw bytes (compact storage)."""
        return bytes.fromhex(cls.validate(value))

    @classmethod
    def decode(cls, raw: bytes) -> str:
        return cls.validate(raw.hex())

    @classmethod
    def make_index(cls) -> SignalIndex:
        """A new, empty in-memory index (signals whose ``lookup`` is ``DISTANCE``)."""
        raise NotImplementedError(f"signal {cls.name!r} has no in-memory index (lookup {cls.lookup})")

    @classmethod
    def examples(cls) -> list[str]:
        """A few valid canonical values, for the test battery and docs."""
        return []

    @classmethod
    def weak_value(cls, value: str, quality: int | None = None) -> str | None:
        """Why the canonical ``value`` would make a poor bank entry — it would match unrelated content —
        or None. Bank adds and imports refuse such values unless forced. Here: a quality under the
        signal's floor; signals add their own degenerate values."""
        floor = cls.min_quality
        if floor is not None and quality is not None and quality < floor:
            return f"its quality {quality} is below the {cls.name} floor of {floor} (a near-blank input)"
        return None

    # -- how values appear in outputs (`haven hash --json`, match objects) -------------------------------

    @classmethod
    def quality_key(cls) -> str:
        """Key of this signal's quality in a hash result's JSON object."""
        return f"{cls.name}_quality"

    @classmethod
    def variants_output(cls, value: str, variants: Sequence[Variant]) -> dict[str, Any]:
        """Variants of ``value`` as JSON object members: ``{"<name>_<family>": {key: value}}``."""
        out: dict[str, dict[str, str]] = {}
        for v in variants:
            out.setdefault(f"{cls.name}_{v.family}", {})[v.key] = v.value
        return dict(out)

    @classmethod
    def variant_match_fields(cls, variant: Variant) -> dict[str, Any]:
        """Members a match found through ``variant`` carries."""
        return {"variant": variant.label}

    @classmethod
    def variant_text(cls, variant: Variant) -> str:
        """How a person is told a match came through ``variant`` (tables, reports)."""
        return f"via {variant.label}"

    @classmethod
    def value_output(cls, value: str) -> dict[str, Any]:
        """Members that describe a value beside it in a hash result's JSON object (a video's frames)."""
        return {}

    @classmethod
    def reference_file(cls, value: str) -> str | None:
        """``value`` as the signal's reference tool writes it to a file of its own (vPDQ: one
        ``frameNumber,quality,hash,timestamp`` line a frame), or None when it has no such file."""
        return None

    @classmethod
    def short_value(cls, value: str) -> str:
        """The value as a person reads it in a table or report line (long values abbreviated)."""
        return value

    # -- other systems' forms of a value ----------------------------------------------------------------

    @classmethod
    def to_external(cls, system: str, value: str) -> str:
        """``value`` as ``system`` (one of ``aliases``' keys: "pytx", "hma") writes it."""
        return value

    # -- frame sets (``LookupKind.FRAMES``) ---------------------------------------------------------------

    #: The signal each frame hash is a value of (PDQ for vPDQ): its distance and index serve the frames.
    frame_signal: ClassVar[type[SignalType] | None] = None

    @classmethod
    def frames(cls, value: str) -> list[Any]:
        """A canonical value's frames (``haven.signals.frames.Frame``), for ``FRAMES`` signals."""
        raise NotImplementedError(f"signal {cls.name!r} has no frames (lookup {cls.lookup})")

    @classmethod
    def option(cls, name: str, settings: Mapping[str, int] | None = None) -> int:
        """Option ``name`` from a bank's ``settings`` (its thresholds), else the option's default."""
        opt = cls.options[name]
        v = (settings or {}).get(f"{cls.name}.{name}")
        return opt.default if v is None else v


class BytesHasher:
    """Capability: computed by streaming the file's bytes through ``new_digest()``."""

    @classmethod
    def new_digest(cls) -> Any:
        """A fresh object with ``update(bytes)`` and ``hexdigest()`` (hashlib's protocol)."""
        raise NotImplementedError

    @classmethod
    def weak_value(cls, value: str, quality: int | None = None) -> str | None:
        """The digest of zero bytes matches every empty file, whatever was banked."""
        if value == cls.new_digest().hexdigest():
            return "it is the digest of an empty file"
        reason: str | None = super().weak_value(value, quality)  # type: ignore[misc]
        return reason


class ImageHasher:
    """Capability: computed from decoded pixels."""

    @classmethod
    def hash_image(cls, image: DecodedImage, options: HashOptions) -> SignalHash:
        raise NotImplementedError


class VideoHasher:
    """Capability: computed from the sampled frames of a decoded video (``HashOptions.frame_interval``)."""

    @classmethod
    def new_video_hasher(cls, info: VideoInfo, options: HashOptions) -> VideoAccumulator:
        raise NotImplementedError


class HexDigestSignal(BytesHasher, SignalType):
    """A cryptographic digest of the file's bytes: lower-case hex of fixed length, exact match only."""

    lookup = LookupKind.EXACT
    input = Input.BYTES
    hex_length: ClassVar[int]
    hashlib_name: ClassVar[str]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "hex_length" in cls.__dict__:
            cls.canonical = re.compile(f"[0-9a-f]{{{cls.hex_length}}}")
            cls.max_length = cls.hex_length

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower() if isinstance(value, str) else ""
        if len(v) != cls.hex_length or any(c not in "0123456789abcdef" for c in v):
            raise FormatError(
                f"not a valid {cls.name} value (want {cls.hex_length} hex digits): {value!r:.80}")
        return v

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return 0 if a == b else 1

    @classmethod
    def new_digest(cls) -> Any:
        import hashlib

        return hashlib.new(cls.hashlib_name)
