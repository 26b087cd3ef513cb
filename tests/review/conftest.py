"""Review console fixtures: the helpers' folder on the path, a console on the parametrised database."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from review_helpers import Console, console


@pytest.fixture
def cons(db_url: str, tmp_path: Path) -> Iterator[Console]:
    c = console(db_url, tmp_path)
    yield c
    c.close()
