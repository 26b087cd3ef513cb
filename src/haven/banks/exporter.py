"""Bank export: stream a bank's entries (id order) through a format's writer."""

from __future__ import annotations

from typing import IO

from haven.banks.formats import get_format
from haven.banks.formats.base import WriteStats
from haven.banks.store import BankStore


def export_bank(store: BankStore, bank: str, out: IO[str], fmt: str = "csv") -> WriteStats:
    """Write every entry of ``bank`` to ``out`` in ``fmt``; returns counts and why entries were skipped."""
    module = get_format(fmt)
    store.get_bank(bank)  # NotFoundError before anything is written
    return module.write(store.iter_entries(bank), out, bank=bank)
