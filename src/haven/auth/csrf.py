"""Cross-site request forgery: the two checks every state-changing form passes, as plain functions.

1. **Origin.** The request's ``Origin`` header (or, without one, the origin of its ``Referer``) must be the
   origin the request was sent to — scheme, host *and port* — or one the deployment trusts. A page on
   another port of the same host is another origin and is refused; so is ``Origin: null`` (sandboxed
   frames, privacy-stripped requests) and a post that carries neither header.
2. **Synchronizer token.** The form field ``csrf_token`` (or the header ``X-CSRF-Token``) must equal the
   token of the session, compared in constant time. Before sign-in there is no session, so the login form
   carries a pre-session token that must equal the one in a ``SameSite=Strict`` cookie set with the form
   (login CSRF: another site cannot sign a victim in to the attacker's account).

``haven.auth.web`` applies both to every POST/PUT/PATCH/DELETE of a surface.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from haven.errors import CsrfError

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def normalize_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case with the scheme's default port dropped; None if unparsable."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")


def request_origin(scheme: str, host_header: str | None) -> str | None:
    """The origin a request was sent to, from its scheme and ``Host`` header."""
    return normalize_origin(f"{scheme}://{host_header}") if host_header else None


def check_origin(origin: str | None, referer: str | None, *, expected: str | None,
                 trusted: Iterable[str] = ()) -> None:
    """Raise ``CsrfError`` unless the request came from ``expected`` (or a ``trusted`` origin)."""
    allowed = {o for o in (normalize_origin(t) for t in trusted) if o}
    if expected:
        allowed.add(expected)
    if origin is not None:
        source, what = (None if origin.strip() == "null" else normalize_origin(origin)), "Origin"
    elif referer:
        source, what = normalize_origin(referer), "Referer"
    else:
        raise CsrfError("refused: a form post must carry an Origin or Referer header")
    if source is None or source not in allowed:
        shown = (origin or referer or "")[:100]
        raise CsrfError(f"refused: a form posted from another origin ({what} {shown!r})")


def check_token(sent: str | None, expected: str | None) -> None:
    """Raise ``CsrfError`` unless ``sent`` equals ``expected`` (constant-time)."""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfError("refused: the form's security token is missing or out of date; "
                        "reload the page and try again")
