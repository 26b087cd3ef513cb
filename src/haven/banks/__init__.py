"""Hash banks: lists of known hashes with their categories, stored in SQLite or PostgreSQL.

``BankStore`` is the one entry point (banks, entries, feedback, imports, exports, change log);
``haven.matching.Matcher`` matches hashes against the enabled banks.
"""

from haven.banks.categories import SCHEMES, SEVERITY_LABELS, severity_of
from haven.banks.formats import FORMATS, detect_format, get_format
from haven.banks.store import BankStore
from haven.banks.types import (
    DISABLING_FEEDBACK,
    FEEDBACK_VALUES,
    Bank,
    Change,
    Entry,
    EntryIn,
    ImportRecord,
    ImportResult,
    entries_from_hash,
)

__all__ = [
    "DISABLING_FEEDBACK",
    "FEEDBACK_VALUES",
    "FORMATS",
    "SCHEMES",
    "SEVERITY_LABELS",
    "Bank",
    "BankStore",
    "Change",
    "Entry",
    "EntryIn",
    "ImportRecord",
    "ImportResult",
    "detect_format",
    "entries_from_hash",
    "get_format",
    "severity_of",
]
