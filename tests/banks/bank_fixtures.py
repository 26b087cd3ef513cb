"""Fixtures for the bank tests (imported by name: a conftest.py here would shadow tests/conftest.py): a
migrated ``BankStore`` on SQLite and PostgreSQL, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from haven.banks import BankStore


@pytest.fixture
def store(db_url: str) -> Iterator[BankStore]:
    s = BankStore(db_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[BankStore]:
    s = BankStore(sqlite_url)
    try:
        yield s
    finally:
        s.close()
