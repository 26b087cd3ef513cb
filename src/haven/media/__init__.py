"""Media: walking evidence safely (folders, archives, disk images) and addressing each file in it."""

from haven.media.evidence import EvidencePath
from haven.media.limits import Limits
from haven.media.open import read_evidence
from haven.media.sniff import kind_of, sniff
from haven.media.walk import Entry, Problem, unsafe_member_name, walk

__all__ = [
    "Entry",
    "EvidencePath",
    "Limits",
    "Problem",
    "kind_of",
    "read_evidence",
    "sniff",
    "unsafe_member_name",
    "walk",
]
