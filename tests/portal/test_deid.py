"""The de-identification check: each kind on its own, spans and merging, and no network use."""

from __future__ import annotations

import socket

import pytest

from haven.portal import deid


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in deid.check(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We met Amira Okafor at home.", ("name", "Amira Okafor")),
        ("Mrs Kowalczyk attended.", ("name", "Kowalczyk")),
        ("She was born on 4 July 2012.", ("dob", "4 July 2012")),
        ("DOB: 04/07/2012.", ("dob", "04/07/2012")),
        ("They lived at 14 Elm Road, Leeds.", ("address", "14 Elm Road, Leeds")),
        ("Postcode LS6 2AB.", ("address", "LS6 2AB")),
        ("He went to Hillside Primary School.", ("school", "Hillside Primary School")),
        ("Ring 07700 900123 after six.", ("phone", "07700 900123")),
        ("Write to mum.k@example.org today.", ("email", "mum.k@example.org")),
        ("The 12-year-old disclosed.", ("age", "12-year-old")),
        ("A girl aged 9 disclosed.", ("age", "aged 9")),
        ("The meeting was on 3 March 2020.", ("date", "3 March 2020")),
        ("Contact came from @dark_wolf77 first.", ("username", "@dark_wolf77")),
        ("His gamertag was shadowfox.", ("username", "shadowfox")),
        ("Police opened case number CR-2019-004512.", ("case_number", "CR-2019-004512")),
        ("Crime reference 12/34567/19 was given.", ("case_number", "12/34567/19")),
    ],
)
def test_each_kind_is_flagged(text: str, expected: tuple[str, str]) -> None:
    assert expected in kinds(text)


def test_offsets_point_into_the_text() -> None:
    text = "Call 07700 900123 or write to a.b@example.com; the 7-year-old attends Oak Academy."
    for f in deid.check(text):
        assert text[f.start : f.end] == f.text


def test_ordinary_professional_prose_is_not_flagged() -> None:
    text = (
        "The strategy discussion agreed a safety plan. Therapy focused on shame and self-blame. "
        "The social worker explained each step. Peer support helped. Outcomes were reviewed at six months."
    )
    assert kinds(text) == []


def test_everyday_word_names_count_mid_sentence_only() -> None:
    assert kinds("Hope was the family's focus.") == []
    assert ("name", "Hope") in kinds("The worker met Hope at home.")


def test_overlapping_findings_merge_into_one_span() -> None:
    found = deid.check("born on 12 March 2011")
    assert [(f.kind, f.text) for f in found] == [("dob", "12 March 2011")]


def test_check_never_opens_a_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the de-identification check tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(deid, "_analyzer", None)  # build Presidio again under the guard
    assert ("email", "x.y@example.co.uk") in kinds("Mail x.y@example.co.uk now.")
