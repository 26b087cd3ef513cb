"""The three API exchanges against their mocks, on SQLite and PostgreSQL: a multi-page first fetch, a second
fetch with additions, changes and deletions (the bank ends equal to the upstream set), provenance kept,
faults retried (5xx, timeouts, truncated pages) and 4xx not, feedback from a decision reaching the mock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchange_helpers import Setup, make_setup

from haven.errors import RemoteRejectedError
from haven.exchanges import feedback, fetch


@pytest.fixture(params=["ncmec", "stopncii", "threatexchange"])
def setup(request: pytest.FixtureRequest, db_url: str) -> Iterator[Setup]:
    s = make_setup(db_url, request.param)
    yield s
    s.close()


def test_first_fetch_then_changes_keep_the_bank_equal_to_upstream(setup: Setup) -> None:
    s = setup
    first = fetch(s.xs, s.name, client=s.client())
    assert first.pages >= 5  # 230 records, pages of 40
    assert s.bank_set() == s.mock.data.live()
    assert s.bank_count() == len(s.mock.data.live())  # one entry per value: nothing twice
    counts = s.xs.counts(s.name)
    assert counts["items"] == first.added and counts["tombstones"] == 0

    s.clock.tick()
    touched = s.mock.data.mutate(add=25, change=12, delete=9)
    s.clock.tick()
    second = fetch(s.xs, s.name, client=s.client())
    assert second.tombstones >= 9 and second.removed >= 9 and second.added >= 25
    assert s.bank_set() == s.mock.data.live()
    assert s.bank_count() == len(s.mock.data.live())
    # Tombstones stay as provenance rows; a deleted value is gone from the bank.
    gone = {v for i in touched["deleted"] for v in s.mock.data.signals(i)}
    assert not gone & s.bank_set()
    # A third fetch with nothing new upstream changes nothing.
    s.clock.tick()
    third = fetch(s.xs, s.name, client=s.client())
    assert (third.added, third.removed, third.tombstones) == (0, 0, 0)


def test_provenance_and_changed_classification(db_url: str) -> None:
    s = make_setup(db_url, "ncmec", count=60, page_size=25)
    try:
        fetch(s.xs, s.name, client=s.client())
        i = 3  # an image: MD5 and PDQ
        md5 = s.mock.data.signals(i)[0][1]
        (entry,) = s.banks.lookup_digest("md5", md5)
        assert entry.category == s.mock.data.classification(i) and entry.category_scheme == "us-industry"
        (prov,) = s.xs.provenance(entry.id)
        assert prov["exchange"] == "ex" and prov["upstream_id"] == f"{42 + i % 2}/e{i}"
        assert prov["member"].startswith(str(42 + i % 2)) and prov["upstream_at"] is not None
        assert prov["classification"] == entry.category
        before = entry.category
        s.clock.tick()
        s.mock.data.shift[i] = 1  # NCMEC re-classifies the image
        s.mock.data.ts[i] = int(s.clock())
        s.mock.data.version += 1
        s.clock.tick()
        result = fetch(s.xs, s.name, client=s.client())
        assert result.changed == 2  # both fingerprints of the record
        (entry,) = s.banks.lookup_digest("md5", md5)
        assert entry.category == s.mock.data.classification(i) != before
        assert entry.severity is not None
    finally:
        s.close()


@pytest.mark.parametrize("fault", ["http_500", "timeout", "truncate"])
def test_faults_are_retried(sqlite_url: str, fault: str) -> None:
    s = make_setup(sqlite_url, "ncmec", count=120, page_size=40)
    try:
        s.mock.inject(fault, skip=1, times=2, delay=1.0)  # the 2nd and 3rd page requests fail
        result = fetch(s.xs, s.name, client=s.client())
        assert result.pages == 3 and s.bank_set() == s.mock.data.live()
        assert s.mock.data.calls.count("GET /v2/entries") == 5  # 3 pages + 2 retries
    finally:
        s.close()


def test_4xx_is_not_retried_and_the_fetch_resumes(sqlite_url: str) -> None:
    s = make_setup(sqlite_url, "ncmec", count=120, page_size=40)
    try:
        s.mock.inject("http_400", skip=1)
        with pytest.raises(RemoteRejectedError):
            fetch(s.xs, s.name, client=s.client())
        assert s.mock.data.calls.count("GET /v2/entries") == 2  # page 1, then page 2 once: no retry
        ex = s.xs.get(s.name)
        assert ex.last_status == "failed" and "HTTP 400" in (ex.last_error or "")
        assert ex.checkpoint and ex.checkpoint["partial"]  # page 1 is kept; the next fetch resumes at page 2
        done = s.bank_count()
        assert 0 < done < len(s.mock.data.live())
        result = fetch(s.xs, s.name, client=s.client())
        assert result.resumed and result.pages == 2
        assert s.bank_set() == s.mock.data.live()
    finally:
        s.close()


def test_false_positive_feedback_reaches_the_mock(setup: Setup) -> None:
    s = setup
    fetch(s.xs, s.name, client=s.client())
    value = next(
        v
        for i in range(len(s.mock.data.ts))
        for sig, v in s.mock.data.signals(i)
        if sig != "md5" or s.mock.kind != "ncmec"
    )
    entry = next(e for e in s.banks.iter_entries(s.bank) if e.value == value)
    s.banks.set_feedback(entry.id, "false_positive", actor="reviewer")
    assert feedback.collect(s.xs) == 1
    assert feedback.collect(s.xs) == 0  # queued once
    s.mock.inject("http_500", step="feedback")  # retried by the policy
    counts = feedback.send(s.xs, clients={s.name: s.client()})
    assert counts == {"sent": 1}
    (row,) = s.xs.feedback(s.name)
    assert row["status"] == "sent" and row["opinion"] == "false_positive" and row["actor"] == "reviewer"
    got = s.mock.data.feedback
    assert len(got) == 1
    assert got[0]["vote"] in ("negative", "NotBlocked", "NOT_HELPFUL")

    # A confirm decision goes as the positive opinion; a 4xx is recorded as failed, not retried.
    other = next(e for e in s.banks.iter_entries(s.bank) if e.id != entry.id)
    s.banks.set_feedback(other.id, "confirmed", actor="reviewer")
    feedback.collect(s.xs)
    s.mock.inject("http_400", step="feedback")
    assert feedback.send(s.xs, clients={s.name: s.client()}) == {"failed": 1}
    assert len(s.mock.data.feedback) == 1
    assert feedback.send(s.xs, clients={s.name: s.client()}) == {}  # nothing pending: not tried again


def test_due_exchanges(sqlite_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from haven.exchanges import due

    s = make_setup(sqlite_url, "ncmec", count=120, page_size=40)
    try:
        assert due(s.xs) == ["ex"]  # never fetched
        fetch(s.xs, s.name, client=s.client())
        now = datetime.now(UTC)
        assert due(s.xs, now) == []  # fetched; the interval (1 h) has not passed
        assert due(s.xs, now + timedelta(hours=1, seconds=1)) == ["ex"]
        s.xs.set_enabled("ex", False)
        assert due(s.xs, now + timedelta(days=1)) == []  # disabled: never scheduled
        s.xs.set_enabled("ex", True)
        # A fetch that failed halfway is resumed after a short pause, not at every tick.
        s.clock.tick()
        s.mock.data.mutate(add=100)
        s.clock.tick()
        s.mock.inject("http_400", skip=1)
        with pytest.raises(RemoteRejectedError):
            fetch(s.xs, s.name, client=s.client())
        now = datetime.now(UTC)
        assert due(s.xs, now) == []
        assert due(s.xs, now + timedelta(minutes=5, seconds=1)) == ["ex"]
    finally:
        s.close()
