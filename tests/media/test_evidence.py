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


def test_undecodable_bytes_and_control_characters_are_escaped_and_recoverable() -> None:
    import os

    raw = b"/ev/caf\xe9\n.jpg"  # Latin-1 bytes and a newline: not valid UTF-8 text on one line
    p = EvidencePath.source(os.fsdecode(raw)).child(os.fsdecode(b"a\x00b\xff#1.jpg"))
    text = str(p)
    assert text == "/ev/caf%E9%0A.jpg!/a%00b%FF%231.jpg"
    text.encode("utf-8")  # always storable
    back = EvidencePath.parse(text)
    assert back == p and os.fsencode(back.parts[0]) == raw


def test_members_of_the_same_name_get_distinct_addresses() -> None:
    zip_ = EvidencePath.source("/ev/a.zip")
    first, second = zip_.child("dup.jpg"), zip_.child("dup.jpg", 2)
    assert str(first) == "/ev/a.zip!/dup.jpg" and str(second) == "/ev/a.zip!/dup.jpg#2"
    assert first != second and second.name == "dup.jpg"
    inner = second.child("x.jpg")
    assert str(inner) == "/ev/a.zip!/dup.jpg#2!/x.jpg" and inner.parent == second
    assert EvidencePath.parse(str(inner)) == inner
    # A name that really ends in "#2" is not mistaken for the second occurrence.
    real = zip_.child("dup.jpg#2")
    assert str(real) == "/ev/a.zip!/dup.jpg%232" and EvidencePath.parse(str(real)) == real != second


def test_a_bad_path_is_a_haven_error() -> None:
    import pytest

    from haven.errors import InputError

    with pytest.raises(InputError):
        EvidencePath(())


@given(
    st.lists(
        st.tuples(
            st.text(
                alphabet=st.characters(min_codepoint=0, max_codepoint=0xDCFF, exclude_categories=()),
                min_size=1,
                max_size=12,
            ),
            st.integers(1, 4),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_round_trip_with_occurrences_and_any_characters(parts: list[tuple[str, int]]) -> None:
    p = EvidencePath.source(parts[0][0])
    for name, n in parts[1:]:
        p = p.child(name, n)
    text = str(p)
    text.encode("utf-8")
    assert EvidencePath.parse(text) == p
