"""The de-identification evaluation of docs/portal.md: invented case studies with planted identifiers.

Run ``python tests/portal/deid_eval.py`` for the full table, the misses and the false positives.
"""

from __future__ import annotations

import deid_eval
from deid_corpus import UNSEEN_PROSE, corpus

from haven.portal import deid


def test_recall_of_planted_identifiers_is_at_least_95_percent_per_kind() -> None:
    result = deid_eval.score(corpus(n_docs=40, seed=19))
    print(deid_eval.report(result))
    assert result.total_planted >= 200
    for kind in deid.KINDS:
        assert result.planted[kind] >= 15, kind
        assert result.recall(kind) >= 0.95, (kind, result.missed[kind])
    # names the gazetteer does not hold are found too (context, capitalisation, word frequency)
    assert result.names_flagged_by_pool["held_out"] / result.names_by_pool["held_out"] >= 0.95


def test_false_positive_rate_on_prose_the_checker_was_not_tuned_on() -> None:
    words = len(UNSEEN_PROSE.split())
    flags = deid.check(UNSEEN_PROSE)
    print(f"{len(flags)} flags in {words} words: {[f.text for f in flags]}")
    assert 1000 * len(flags) / words <= 15.0


def test_docs_show_the_measured_table() -> None:
    """docs/portal.md quotes this evaluation; a change to the checker must update the table there."""
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "portal.md").read_text()
    table = deid_eval.report(deid_eval.score(corpus(n_docs=40, seed=19)))
    for line in table.splitlines():
        assert line in docs, f"docs/portal.md lacks: {line}"
