import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def small_tables(monkeypatch):
    """Give even tiny segments multi-index tables, and seal the buffer early, so tests exercise them."""
    from haven.index import hamming, kernel

    monkeypatch.setattr(kernel, "MIN_TABLE_ROWS", 32)
    monkeypatch.setattr(hamming, "BUFFER_ROWS", 64)
