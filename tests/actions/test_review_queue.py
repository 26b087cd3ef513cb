"""The review queue: most urgent first, leases that no two reviewers share, leases that expire."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from haven.actions.review_queue import ReviewQueue
from haven.errors import ConflictError
from haven.store.db import make_engine


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def test_order_priority_unknown_then_age(engine: Engine) -> None:
    clock = Clock()
    q = ReviewQueue(engine, clock=clock)
    ids = {}
    for name, prio, known in (
        ("old-low", 1, True),
        ("high", 5, True),
        ("unknown", 0, False),
        ("new-low", 1, True),
    ):
        ids[name] = q.add(priority=prio, known=known, content_id=name)
        clock.now += timedelta(seconds=1)
    order = []
    while (t := q.lease_next("r")) is not None:
        order.append(t.content_id)
    assert order == ["unknown", "high", "old-low", "new-low"]


def test_add_is_idempotent_per_source_key(engine: Engine) -> None:
    q = ReviewQueue(engine)
    assert q.add(source_key="run:1") == q.add(source_key="run:1")
    assert q.pending() == 1


def test_leases_expire_and_are_exclusive(engine: Engine) -> None:
    clock = Clock()
    q = ReviewQueue(engine, clock=clock)
    item = q.add(content_id="c")
    t = q.lease_next("ana", lease=timedelta(minutes=5))
    assert t is not None and t.id == item
    assert q.lease_next("ben") is None
    with pytest.raises(ConflictError):
        q.complete(item, "ben", "confirm")
    clock.now += timedelta(minutes=6)  # ana walked away
    t2 = q.lease_next("ben")
    assert t2 is not None and t2.id == item
    with pytest.raises(ConflictError):
        q.complete(item, "ana", "confirm")
    q.complete(item, "ben", "false_positive")
    assert q.get(item).decision == "false_positive" and q.pending() == 0


def test_concurrent_reviewers_never_share_an_item(engine: Engine) -> None:
    q = ReviewQueue(engine)
    for i in range(30):
        q.add(content_id=f"c{i}")
    got: dict[str, list[int]] = {}

    def reviewer(name: str) -> None:
        mine = got.setdefault(name, [])
        while (t := q.lease_next(name)) is not None:
            mine.append(t.id)

    threads = [threading.Thread(target=reviewer, args=(f"r{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for ids in got.values() for i in ids]
    assert sorted(everything) == sorted(set(everything)) and len(everything) == 30
