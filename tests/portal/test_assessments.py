"""Assessment instruments (versioned, scored, thresholds), anonymised cases, trajectories and aggregates."""

from __future__ import annotations

import pytest
from portal_builders import approved

from haven.errors import InputError, PermissionDeniedError
from haven.portal import assessments, charts
from haven.portal.store import PortalStore

DEFINITION = {
    "scale": {"min": 0, "max": 3},
    "domains": [
        {
            "key": "safety",
            "title": {"en": "Safety"},
            "items": [
                {"key": "s1", "text": {"en": "Feels unsafe at home"}},
                {"key": "s2", "text": {"en": "Feels safe online"}, "reverse": True},
            ],
        },
        {"key": "mood", "title": {"en": "Mood"}, "items": [{"key": "m1", "text": {"en": "Low mood"}}]},
    ],
    "thresholds": [
        {"domain": "safety", "at_least": 4, "label": "safety: high need"},
        {"domain": "total", "at_least": 7, "label": "overall: high need"},
    ],
}


def test_scoring_reverse_items_and_thresholds() -> None:
    s = assessments.score(DEFINITION, {"s1": 3, "s2": 0, "m1": 2})
    assert s == {
        "domains": {"safety": 6, "mood": 2},
        "total": 8,
        "flags": ["safety: high need", "overall: high need"],
    }
    with pytest.raises(InputError):
        assessments.score(DEFINITION, {"s1": 4, "s2": 0, "m1": 0})


def test_versions_trajectory_and_privacy(store: PortalStore) -> None:
    with store.begin() as db:
        mod = approved(db, roles=("moderator",))
        owner, other = approved(db), approved(db)
        v1 = assessments.create(db, mod, "recovery", "Recovery needs", DEFINITION)
        assessments.publish(db, mod, v1.id)
        case = assessments.open_case(db, owner, "recovery", "10-13")
        assert case.code.startswith("RC-")
        assessments.record(db, owner, case.id, {"s1": 3, "s2": 0, "m1": 3}, week=0)
        v2 = assessments.create(db, mod, "recovery", "Recovery needs (rev.)", DEFINITION)
        assessments.publish(db, mod, v2.id)
        assessments.record(db, owner, case.id, {"s1": 1, "s2": 2, "m1": 1}, week=12)
        points = assessments.trajectory(db, owner, case.id)
        assert [(p.week, p.scores["total"], p.instrument_id) for p in points] == [
            (0, 9, v1.id),
            (12, 3, v2.id),
        ]
        with pytest.raises(PermissionDeniedError):
            assessments.trajectory(db, other, case.id)
        with pytest.raises(PermissionDeniedError):
            assessments.trajectory(db, mod, case.id)
        svg = charts.trajectory(
            [(p.week, p.scores) for p in points],
            {"safety": "Safety", "mood": "Mood"},
            scale_max={"safety": 6, "mood": 3},
        )
        assert svg.count('class="domain-line"') == 2 and "wk 12" in svg
        assert assessments.aggregate(db, "recovery") is None  # one case: nothing leaves the portal
        for _ in range(4):
            c = assessments.open_case(db, owner, "recovery", "14-17")
            assessments.record(db, owner, c.id, {"s1": 2, "s2": 1, "m1": 2}, week=0)
            assessments.record(db, owner, c.id, {"s1": 1, "s2": 2, "m1": 1}, week=8)
        agg = assessments.aggregate(db, "recovery")
        assert (
            agg is not None
            and agg["cases"] == 5
            and agg["first"]["safety"] == 4
            and agg["latest"]["safety"] == 2
        )
