"""What an exchange client hands the apply loop, and what the store hands out (plain data, no SQLAlchemy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: The exchange types Haven speaks.
TYPES = ("ncmec", "stopncii", "threatexchange", "file")
#: Bank feedback → the opinion sent upstream (``None``: nothing to send).
OPINION_OF_FEEDBACK = {"false_positive": "negative", "disputed": "negative", "confirmed": "positive"}


@dataclass(slots=True)
class Update:
    """One upstream record at its newest state: its fingerprints, or a tombstone (``deleted``).

    A record may carry several fingerprints (NCMEC: MD5, SHA-1, PDQ of one image); each becomes a bank
    entry. Fingerprints left out of a record's new state are removed from the bank like a tombstone."""

    upstream_id: str
    signals: list[tuple[str, str]] = field(default_factory=list)  # (Haven signal, value)
    deleted: bool = False
    member: str | None = None
    classification: str | None = None
    scheme: str | None = None  # the category scheme of ``classification`` (NCMEC: us-industry)
    status: str | None = None
    upstream_at: datetime | None = None
    feedback: Any = None  # the upstream's own feedback on the record (JSON-able)
    extra: dict[str, Any] | None = None  # what a feedback call needs later (member id, descriptor id …)


@dataclass
class Page:
    """One page of updates and the checkpoint that follows it (committed with the page's entries).

    ``last``: the fetch is complete after this page. ``snapshot``: the page is the whole upstream list
    (the file type): items of the exchange that it does not name are tombstoned."""

    updates: list[Update]
    checkpoint: dict[str, Any]
    last: bool = False
    snapshot: bool = False
    problems: list[str] = field(default_factory=list)  # records the client could not read (counted as errors)


@dataclass(frozen=True)
class FeedbackTarget:
    """What a client needs to send an opinion on one item upstream."""

    upstream_id: str
    signal: str
    value: str
    member: str | None
    extra: dict[str, Any]


class ExchangeClient(Protocol):
    """The small protocol every exchange type implements."""

    type: str
    supports_feedback: bool

    def pages(self, checkpoint: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of updates from ``checkpoint`` (None: from the beginning) to the upstream's present."""
        ...

    def send_feedback(self, target: FeedbackTarget, opinion: str) -> str:
        """Send ``opinion`` (``positive``/``negative``) on one item; returns a short description of the
        upstream's answer. Raises ``RemoteRejectedError`` (never retried) or ``RemoteError``."""
        ...

    def close(self) -> None: ...


@dataclass
class Exchange:
    id: int
    name: str
    type: str
    bank: str
    enabled: bool
    interval_seconds: int
    options: dict[str, Any]
    has_credentials: bool
    checkpoint: dict[str, Any] | None
    pages: int
    applied: int
    fetch_started_at: datetime | None
    fetch_finished_at: datetime | None
    last_status: str | None
    last_error: str | None
    created_at: datetime | None
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("fetch_started_at", "fetch_finished_at", "created_at"):
            d[k] = d[k].isoformat() if d[k] is not None else None
        return d


@dataclass
class FetchResult:
    """What one ``fetch`` did."""

    exchange: str
    pages: int = 0
    added: int = 0  # new bank entries
    linked: int = 0  # values the bank already held: linked, not added again
    changed: int = 0  # items whose provenance or classification changed
    removed: int = 0  # bank entries removed by tombstones
    tombstones: int = 0  # items tombstoned
    errors: int = 0  # fingerprints refused (bad or weak values, unknown signal types)
    resumed: bool = False
    unchanged: bool = False  # the file type: same content as last time
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
