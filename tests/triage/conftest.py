"""Fixtures for the triage tests: the generated seizure (see ``seizure_builder``) with its seeded bank."""

from __future__ import annotations

import pytest
from seizure_builder import Seizure, build_seizure, seed_bank


@pytest.fixture(scope="session")
def seizure(tmp_path_factory: pytest.TempPathFactory) -> Seizure:
    root = tmp_path_factory.mktemp("seizure")
    s = build_seizure(root / "evidence")
    s.bank_url = f"sqlite:///{root / 'banks.db'}"
    seed_bank(s.bank_url, s)
    return s
