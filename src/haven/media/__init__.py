"""Media: walking evidence safely (folders, archives, disk images) and addressing each file in it."""

from haven.media.evidence import EvidencePath
from haven.media.items import Digests, Entry, Item, Problem
from haven.media.limits import Budget, Limits, unsafe_member_name
from haven.media.open import read_evidence
from haven.media.sniff import kind_of, sniff
from haven.media.walk import walk

__all__ = [
    "Budget",
    "Digests",
    "Entry",
    "EvidencePath",
    "Item",
    "Limits",
    "Problem",
    "kind_of",
    "read_evidence",
    "sniff",
    "unsafe_member_name",
    "walk",
]
