"""Request and response bodies (pydantic), which also make the OpenAPI document precise."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

_HEX = "^[0-9a-fA-F]+$"
#: Free text may not hold control characters (PostgreSQL refuses NUL; logs and UIs mislead on the rest).
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
ID_TEXT = r"^[^\x00-\x1f]+$"
BANK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class HashQuery(BaseModel):
    """Hash values to match; give at least one."""

    model_config = ConfigDict(extra="forbid")
    pdq: str | None = Field(None, min_length=64, max_length=64, pattern=_HEX, description="PDQ, 64 hex digits")
    md5: str | None = Field(None, min_length=32, max_length=32, pattern=_HEX)
    sha1: str | None = Field(None, min_length=40, max_length=40, pattern=_HEX)
    sha256: str | None = Field(None, min_length=64, max_length=64, pattern=_HEX)
    threshold: int | None = Field(None, ge=0, le=256, description="PDQ Hamming threshold (default: bank's, 31)")
    content_id: str | None = Field(None, min_length=1, max_length=200, pattern=ID_TEXT,
                                   description="Your id for this content; the result is kept under it")


class HashBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[HashQuery] = Field(..., min_length=1, max_length=1000)


class MatchOut(BaseModel):
    """One bank entry that matched (the objects in ``haven match --json``'s ``matches``)."""

    model_config = ConfigDict(extra="allow")
    bank: str
    signal: str
    value: str
    distance: int
    entry_id: int
    upscaled_to: int | None = Field(None, description="Found by the image's PDQ as if upscaled to this side (px)")


class VerdictOut(BaseModel):
    """What the rules decided for a match (present only when a rule fired)."""

    action: str = Field(description="`block` (do not accept the upload) or `allow`")
    rules: list[str] = Field(description="the rules that fired, in order")
    actions: list[dict[str, Any]] = Field(description="queued actions started by this request (run ids); "
                                                      "empty when a retried upload had started them already")
    deterrence: dict[str, Any] | None = Field(None, description="message and help resources to show the uploader")


class MatchResult(BaseModel):
    """Hash values of the query (or the upload) and the bank entries they matched."""

    model_config = ConfigDict(extra="allow")
    matched: bool
    matches: list[MatchOut]
    content_id: str | None = None
    pdq: str | None = None
    quality: int | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    verdict: VerdictOut | None = None


class BatchResult(BaseModel):
    results: list[MatchResult]


class HashOut(BaseModel):
    """The ``haven hash --json`` object for an upload."""

    model_config = ConfigDict(extra="allow")
    path: str
    pdq: str | None = None
    quality: int | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None


UPSCALED_TEXT = ("Images under 768 px whose PDQ matches nothing: also look up their PDQ as if upscaled "
                 "(PDQ drifts on thumbnails); such matches carry upscaled_to")


class UrlQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(..., min_length=1, max_length=4096, pattern=ID_TEXT, description="http(s) URL of an image")
    threshold: int | None = Field(None, ge=0, le=256)
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
    signal: Literal["pdq", "md5", "sha1", "sha256"]
    value: str = Field(..., min_length=1, max_length=128, pattern=_HEX)
    quality: int | None = Field(None, ge=0, le=100)
    category: str | None = Field(None, max_length=64, pattern=TEXT)
    series: str | None = Field(None, max_length=1000, pattern=TEXT)
    victim_identified: bool | None = None


class EntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[EntryIn] = Field(..., min_length=1, max_length=10_000)


class EntriesAdded(BaseModel):
    ids: list[int]


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
