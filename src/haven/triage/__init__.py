"""Triage of a seized collection: known / unknown / duplicates / series / priority, with case outputs."""

from haven.triage.analyse import Analysis, Thresholds, analyse
from haven.triage.runner import TriageOptions, run_triage

__all__ = ["Analysis", "Thresholds", "TriageOptions", "analyse", "run_triage"]
