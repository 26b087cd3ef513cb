"""Fixtures for the identity tests: an ``Auth`` per database with a clock the test moves."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from auth_helpers import FAST, FakeClock

from haven.auth import Auth, SecurityEvent
from haven.secrets import KeyRing, new_key


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[SecurityEvent]:
    return []


@pytest.fixture
def auth(db_url: str, clock: FakeClock, events: list[SecurityEvent]) -> Iterator[Auth]:
    """An ``Auth`` on SQLite and on PostgreSQL, with a master key ring and every event collected."""
    ring = KeyRing([new_key()])
    a = Auth(db_url, policy=FAST, key_ring=lambda: ring, clock=clock)
    a.events.subscribe(events.append)
    yield a
    a.close()
