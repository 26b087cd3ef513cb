"""Matching: hashes → bank hits. ``Matcher`` is the one orchestrator every shell calls; ``Match`` the one
result type; ``BankIndexes`` its in-memory indexes, kept in step with the banks' change log."""

from haven.matching.coverage import BankSearched, Coverage
from haven.matching.indexes import MANIFEST, BankIndexes, Shard, indexed_signals
from haven.matching.match import Match, sort_matches
from haven.matching.matcher import Hashed, Matcher, merge_shard_matches

__all__ = [
    "MANIFEST",
    "BankIndexes",
    "BankSearched",
    "Coverage",
    "Hashed",
    "Match",
    "Matcher",
    "Shard",
    "indexed_signals",
    "merge_shard_matches",
    "sort_matches",
]
