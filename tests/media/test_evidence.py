"""EvidencePath: stable, comparable, round-trips any member name."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from haven.media import EvidencePath


def test_string_form_and_chain() -> None:
    p = EvidencePath.source("/cases/seizure.zip").child("dcim/a.zip").child("img1.jpg")
    assert str(p) == "/cases/seizure.zip!/dcim/a.zip!/img1.jpg"
    assert p.depth == 2 and p.name == "img1.jpg"
    assert p.parent == EvidencePath.source("/cases/seizure.zip").child("dcim/a.zip")
    assert EvidencePath.source("/x").parent is None


def test_separator_inside_a_name_is_escaped() -> None:
    p = EvidencePath.source("/a!b%c").child("x!/y")
    assert "!/" not in str(p).split("!/", 1)[1].replace("%21/", "")
    assert EvidencePath.parse(str(p)) == p


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5))
def test_round_trip(parts: list[str]) -> None:
    p = EvidencePath(tuple(parts))
    assert EvidencePath.parse(str(p)) == p


def test_ordering_is_by_parts() -> None:
    a, b = EvidencePath(("/a", "z")), EvidencePath(("/a/b",))
    assert sorted([b, a]) == [a, b]
