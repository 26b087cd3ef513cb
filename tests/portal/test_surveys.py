"""Surveys: per-language text, rounds, one answer per member, suppressed results, CSV, charts."""

from __future__ import annotations

import pytest
from portal_builders import approved

from haven.errors import ConflictError, InputError
from haven.portal import charts, surveys
from haven.portal.store import PortalStore

QUESTIONS = [
    {
        "key": "trained",
        "type": "single",
        "text": {
            "en": "Have you been trained to assess online risk?",
            "fr": "Avez-vous été formé(e) à évaluer les risques en ligne ?",
        },
        "options": [
            {"key": "yes", "text": {"en": "Yes", "fr": "Oui"}},
            {"key": "no", "text": {"en": "No", "fr": "Non"}},
        ],
    },
    {
        "key": "needs",
        "type": "multi",
        "text": {"en": "Which training do you need?"},
        "options": [
            {"key": "risk", "text": {"en": "Online risk"}},
            {"key": "recovery", "text": {"en": "Recovery support"}},
        ],
    },
    {"key": "confidence", "type": "scale", "min": 1, "max": 5, "text": {"en": "How confident are you?"}},
    {"key": "comments", "type": "text", "text": {"en": "Anything else?"}},
]


def test_round_results_are_suppressed_per_country(store: PortalStore) -> None:
    with store.begin() as db:
        mod = approved(db, roles=("moderator",))
        survey = surveys.create(
            db, mod, key="tna", kind="training_needs", title={"en": "Training needs"}, questions=QUESTIONS
        )
        rnd = surveys.open_round(db, mod, survey.id, "2025")
        plan = (
            [("GB", "yes")] * 6
            + [("GB", "no")] * 7
            + [("KE", "yes")] * 5
            + [("KE", "no")] * 6
            + [("FR", "no")] * 3
        )
        for country, answer in plan:
            m = approved(db, country=country)
            surveys.respond(
                db,
                m,
                rnd.id,
                {"trained": answer, "needs": ["risk"], "confidence": "3"},
                language="fr" if country == "FR" else "en",
            )
        with pytest.raises(ConflictError):
            surveys.respond(db, m, rnd.id, {"trained": "yes"})
        with pytest.raises(InputError):
            surveys.respond(db, approved(db), rnd.id, {"trained": "maybe"})
        result = surveys.results(db, rnd.id, "trained", by="country")
        t = result.table
        fr = t.rows.index("FR")
        assert [t.label(fr, j) for j in (0, 1, -1)] == ["<5", "<5", "<5"]
        assert t.shown(-1, -1) == 27
        assert any(t.hidden(i, -1) for i in range(len(t.rows)) if i != fr)  # FR's total cannot be differenced
        csv_text = surveys.to_csv(result)
        assert "FR,<5,<5,<5" in csv_text and "3" not in csv_text.split("FR")[1].split("\n")[0]
        svg = charts.bars(t, title="Trained to assess online risk")
        assert svg.count('class="hidden-cell"') == sum(
            t.hidden(i, j) for i in range(len(t.rows)) for j in range(2)
        )
        assert "FR, Yes: hidden (&lt;5)" in svg and "FR, No: hidden (&lt;5)" in svg
        multi = surveys.results(db, rnd.id, "needs", by="profession")
        assert multi.table.shown(0, 0) == 27
        surveys.close_round(db, mod, rnd.id)
        with pytest.raises(ConflictError):
            surveys.respond(db, approved(db), rnd.id, {"trained": "yes"})


def test_questions_are_validated() -> None:
    with pytest.raises(InputError):
        surveys.validate_questions(
            [
                {
                    "key": "q",
                    "type": "single",
                    "text": {"fr": "Sans anglais"},
                    "options": [{"key": "a", "text": {"en": "A"}}, {"key": "b", "text": {"en": "B"}}],
                }
            ]
        )
    assert surveys.text_for(QUESTIONS[0]["text"], "fr").startswith("Avez-vous")
    assert surveys.text_for(QUESTIONS[1]["text"], "fr") == "Which training do you need?"
