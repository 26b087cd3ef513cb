"""One local Spark session (``local[2]``, no web UI) shared by every Spark test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from haven.spark.session import build_session


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = build_session(
        "local[2]",
        app_name="haven-tests",
        ui=False,
        conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"},
    )
    yield session
    session.stop()
