"""Interface languages: gettext catalogues (``locale/<lang>/LC_MESSAGES/messages.po``) compiled in memory when
the portal starts, and the language of each request (cookie ``portal_lang``, else ``Accept-Language``).

Templates mark text with ``{{ _("…") }}``; ``pybabel extract -F babel.cfg`` collects it (see docs/portal.md).
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = {"en": "English", "fr": "Français"}
COOKIE = "portal_lang"
_current: ContextVar[str] = ContextVar("portal_language", default="en")


@cache
def translations(language: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if supported, else the first one in ``Accept-Language``, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def set_language(language: str) -> None:
    _current.set(language if language in LANGUAGES else "en")


def current() -> str:
    return _current.get()


def gettext_(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)
