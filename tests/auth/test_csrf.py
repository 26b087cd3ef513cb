"""The CSRF checks as functions: Origin/Referer against the request's own origin (port included) and the
synchronizer token."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.auth.csrf import check_origin, check_token, new_token, normalize_origin, request_origin
from haven.errors import CsrfError

HERE = request_origin("http", "127.0.0.1:8000")


def test_request_origin() -> None:
    assert HERE == "http://127.0.0.1:8000"
    assert request_origin("https", "Haven.Example:443") == "https://haven.example"
    assert request_origin("http", "[::1]:8000") == "http://[::1]:8000"
    assert request_origin("http", None) is None


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8000", "HTTP://127.0.0.1:8000", "http://127.0.0.1:8000/"])
def test_same_origin_passes(origin: str) -> None:
    check_origin(origin, None, expected=HERE)


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:8001",      # another port of the same host
    "http://127.0.0.1",           # port 80
    "https://127.0.0.1:8000",     # another scheme
    "http://localhost:8000",      # another host name
    "http://127.0.0.1:8000.evil.example",
    "null",                       # sandboxed frame, data: URL, privacy-stripped
    "",
    "javascript:alert(1)",
])
def test_other_origins_are_refused(origin: str) -> None:
    with pytest.raises(CsrfError):
        check_origin(origin, None, expected=HERE)


def test_referer_is_the_fallback() -> None:
    check_origin(None, "http://127.0.0.1:8000/ui/login", expected=HERE)
    with pytest.raises(CsrfError, match="another origin"):
        check_origin(None, "http://127.0.0.1:9999/attack.html", expected=HERE)
    with pytest.raises(CsrfError, match="must carry an Origin"):
        check_origin(None, None, expected=HERE)
    with pytest.raises(CsrfError):  # Origin wins over a same-origin Referer
        check_origin("http://127.0.0.1:8001", "http://127.0.0.1:8000/ui", expected=HERE)


def test_trusted_origins() -> None:
    check_origin("https://haven.example.org", None, expected="http://10.0.0.5:8000",
                 trusted=["https://haven.example.org:443"])
    with pytest.raises(CsrfError):
        check_origin("https://other.example.org", None, expected=HERE, trusted=["https://haven.example.org"])


def test_token() -> None:
    t = new_token()
    check_token(t, t)
    bad = [(None, t), ("", t), (t, None), (t, ""), (t + "x", t), (t[:-1], t), (new_token(), t)]
    for sent, expected in bad:
        with pytest.raises(CsrfError):
            check_token(sent, expected)


@given(st.text(max_size=80))
def test_normalize_never_raises(value: str) -> None:
    got = normalize_origin(value)
    assert got is None or got.startswith(("http://", "https://"))
