"""Request and response bodies (pydantic), which also make the OpenAPI document precise."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from haven.signals import SignalType, all_signals, signal_names

#: Free text may not hold control characters (PostgreSQL refuses NUL; logs and UIs mislead on the rest).
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
ID_TEXT = r"^[^\x00-\x1f]+$"
BANK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: Largest PDQ threshold a query may ask for: a quarter of the bits, twice the recommended 31. Unrelated
#: images sit near 128 (docs/security.md), and past this the query costs grow while matches stop meaning
#: "the same picture".
PDQ_THRESHOLD_MAX = 64
#: Matches returned per query unless it asks for another ``limit`` (at most ``RESULTS_MAX``).
RESULTS_DEFAULT = 100
RESULTS_MAX = 1000
THRESHOLD_TEXT = (f"Distance threshold for perceptual signals, at most {PDQ_THRESHOLD_MAX} "
                  "(default: each bank's, PDQ 31)")
LIMIT_REACHED_TEXT = "True when more matches were found than `limit` returns"
LIMIT_TEXT = (f"Most matches to return, nearest first (default {RESULTS_DEFAULT}); `limit_reached` says "
              "when more were found")


def _value_field(sig: type[SignalType]) -> Any:
    return (str | None, Field(None, min_length=1, max_length=sig.max_length, pattern=sig.value_pattern(),
                              description=sig.description or None))


def _quality_fields() -> dict[str, Any]:
    return {s.quality_key(): (int | None, None) for s in all_signals() if s.min_quality is not None}


# The per-signal fields below come from the signal registry (built-ins and installed plugins), so a new
# signal appears in the API and its OpenAPI document without a change here.
HashQuery = create_model(
    "HashQuery",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Hash values to match; give at least one.",
    **{s.name: _value_field(s) for s in all_signals()},  # type: ignore[arg-type]
    threshold=(int | None, Field(None, ge=0, le=PDQ_THRESHOLD_MAX, description=THRESHOLD_TEXT)),
    limit=(int, Field(RESULTS_DEFAULT, ge=1, le=RESULTS_MAX, description=LIMIT_TEXT)),
    content_id=(str | None, Field(None, min_length=1, max_length=200, pattern=ID_TEXT,
                                  description="Your id for this content; the result is kept under it")),
)


def query_hashes(q: BaseModel) -> dict[str, str]:
    """The signal values a ``HashQuery`` holds, lower-cased as the signals store them."""
    return {s.name: v.lower() for s in all_signals() if (v := getattr(q, s.name, None))}


class HashBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[HashQuery] = Field(..., min_length=1, max_length=1000)  # type: ignore[valid-type]


class MatchOut(BaseModel):
    """One bank entry that matched (the objects in ``haven match --json``'s ``matches``)."""

    model_config = ConfigDict(extra="allow")
    bank: str
    signal: str
    value: str
    distance: int
    entry_id: int
    upscaled_to: int | None = Field(
        None, description="Found by the image's PDQ as if upscaled to this side (px)"
    )


class Searched(BaseModel):
    """What the match searched: the enabled banks, their active entries of the query's signals, and the
    change-log position the counts were read at (counted again within seconds of a change)."""

    banks: int
    entries: int
    seq: int


class VerdictOut(BaseModel):
    """What the rules decided for a match (present only when a rule fired)."""

    action: str = Field(description="`block` (do not accept the upload) or `allow`")
    rules: list[str] = Field(description="the rules that fired, in order")
    actions: list[dict[str, Any]] = Field(description="queued actions started by this request (run ids); "
                                                      "empty when a retried upload had started them already")
    deterrence: dict[str, Any] | None = Field(
        None, description="message and help resources to show the uploader"
    )


MatchResult = create_model(
    "MatchResult",
    __config__=ConfigDict(extra="allow"),
    __doc__="Hash values of the query (or the upload) and the bank entries they matched.",
    **{"matched": (bool, ...), "matches": (list[MatchOut], ...),
       "limit_reached": (bool, Field(False, description=LIMIT_REACHED_TEXT)),
       "searched": (Searched, ...), "content_id": (str | None, None),
       "verdict": (VerdictOut | None, None),
       **{s.name: (str | None, None) for s in all_signals()}, **_quality_fields()},
)


class BatchResult(BaseModel):
    results: list[MatchResult]  # type: ignore[valid-type]


HashOut = create_model(
    "HashOut",
    __config__=ConfigDict(extra="allow"),
    __doc__="The ``haven hash --json`` object for an upload.",
    **{"path": (str, ...), **{s.name: (str | None, None) for s in all_signals()}, **_quality_fields(),
       "width": (int | None, None), "height": (int | None, None), "size": (int | None, None)},
)


UPSCALED_TEXT = (
    "Images under 768 px whose PDQ matches nothing: also look up their PDQ as if upscaled "
    "(PDQ drifts on thumbnails); such matches carry upscaled_to"
)


class UrlQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        ..., min_length=1, max_length=4096, pattern=ID_TEXT, description="http(s) URL of an image"
    )
    threshold: int | None = Field(None, ge=0, le=PDQ_THRESHOLD_MAX, description=THRESHOLD_TEXT)
    limit: int = Field(RESULTS_DEFAULT, ge=1, le=RESULTS_MAX, description=LIMIT_TEXT)
    content_id: str | None = Field(None, min_length=1, max_length=200, pattern=ID_TEXT)
    upscaled: bool = Field(False, description=UPSCALED_TEXT)


class BankIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=100, pattern=BANK_NAME)
    source: str | None = Field(None, max_length=200, pattern=TEXT)
    description: str | None = Field(None, max_length=10_000, pattern=TEXT)
    thresholds: dict[str, int] | None = None


class BankPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signal: Literal[tuple(signal_names())]  # type: ignore[valid-type]
    value: str = Field(
        ...,
        min_length=1,
        max_length=max(s.max_length for s in all_signals()),
        pattern=TEXT,
        description="The value in the signal's own format (checked by the signal)",
    )
    quality: int | None = Field(None, ge=0, le=100)
    category: str | None = Field(None, max_length=64, pattern=TEXT)
    series: str | None = Field(None, max_length=1000, pattern=TEXT)
    victim_identified: bool | None = None


class EntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[EntryIn] = Field(..., min_length=1, max_length=10_000)
    force: bool = Field(
        False,
        description="Also add weak values, which match unrelated content (all-zero PDQ, empty-file MD5)",
    )


class EntriesAdded(BaseModel):
    ids: list[int] = Field(..., description="Each entry's id, in order (a value the bank held: that entry's)")
    added: int = Field(..., description="How many are new (adding a value the bank holds changes nothing)")


class Problem(BaseModel):
    """Every error: a short machine code and a human message."""

    code: str
    message: str


class MatchRecord(BaseModel):
    content_id: str
    kind: str
    recorded_at: str
    result: dict[str, Any]


#: Entry ids are 64-bit database keys; larger path values are a 422, not a database overflow.
ENTRY_ID_MAX = 2**63 - 1

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem} for s in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
