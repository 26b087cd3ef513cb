"""Portal test fixtures: a portal store on the parametrised database; the helpers' folder on the path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from portal_live import portal  # the module-scoped live portal the web tests use (a fixture)

from haven.portal.store import PortalStore


@pytest.fixture
def store(db_url: str) -> Iterator[PortalStore]:
    s = PortalStore(db_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[PortalStore]:
    s = PortalStore(sqlite_url)
    yield s
    s.close()
