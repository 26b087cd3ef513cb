"""The de-identification check a case study passes before a moderator sees it.

Two layers, each flagging spans the author must fix or justify:

* Microsoft Presidio's pattern recognizers (``presidio-analyzer``) for e-mail addresses, phone numbers
  (Google's libphonenumber underneath), numeric dates and UK postcodes. Presidio runs with its
  ``NoOpNlpEngine``: no spaCy model is loaded or downloaded. Its e-mail check looks domains up in the public
  suffix list bundled with ``tldextract``; the copy on the internet is never fetched.
* Rules for what patterns alone miss: personal names (titles, cue words such as *called*, a first-name
  gazetteer built from Faker's per-locale name lists, and capitalised words that are not ordinary English
  words by pyspellchecker's frequency list), dates of birth, written dates, exact ages, street addresses,
  schools, usernames and online handles, and case or reference numbers.

The check favours recall: a flag the author justifies in one line costs little, a name that reaches other
professionals cannot be taken back. ``docs/portal.md`` gives the measured recall per kind and the false
positive rate (``tests/portal/test_deid_eval.py``).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from haven.portal.text import N_

KINDS = ("name", "dob", "address", "school", "phone", "email", "age", "date", "username", "case_number")


KIND_LABELS = {
    "name": N_("personal name"),
    "dob": N_("date of birth"),
    "address": N_("address"),
    "school": N_("school"),
    "phone": N_("phone number"),
    "email": N_("e-mail address"),
    "age": N_("exact age"),
    "date": N_("exact date"),
    "username": N_("username or handle"),
    "case_number": N_("case or reference number"),
}
# When two findings overlap, the more specific kind names the merged span.
_PRIORITY = {
    k: i
    for i, k in enumerate(
        ("dob", "email", "phone", "case_number", "username", "school", "address", "date", "age", "name")
    )
}


@dataclass(frozen=True)
class Finding:
    """One flagged span of the checked text (``start``/``end`` are character offsets)."""

    kind: str
    start: int
    end: int
    text: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "source": self.source,
        }


# --------------------------------------------------------------------------------------------- Presidio layer

_PRESIDIO_KIND = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "DATE_TIME": "date",
    "UK_POSTCODE": "address",
}
# libphonenumber parses national formats per region; these cover the network's countries.
PHONE_REGIONS = (
    "GB",
    "IE",
    "US",
    "CA",
    "AU",
    "NZ",
    "IN",
    "PK",
    "BD",
    "NG",
    "KE",
    "ZA",
    "GH",
    "UG",
    "TZ",
    "PH",
    "ID",
    "MY",
    "TH",
    "VN",
    "BR",
    "MX",
    "CO",
    "AR",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "PL",
    "SE",
)
_analyzer_lock = threading.Lock()
_analyzer: Any = None


def _offline_email_recognizer() -> Any:
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the bundled snapshot, no network

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extract(pattern_text.rsplit("@", 1)[-1]).suffix)

    return OfflineEmailRecognizer()


def analyzer() -> Any:
    """Presidio's analyzer with only self-contained recognizers (built once per process)."""
    global _analyzer
    with _analyzer_lock:
        if _analyzer is None:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.nlp_engine import NoOpNlpEngine
            from presidio_analyzer.predefined_recognizers import (
                DateRecognizer,
                PhoneRecognizer,
                UkPostcodeRecognizer,
            )

            registry = RecognizerRegistry(supported_languages=["en"])
            for recognizer in (
                _offline_email_recognizer(),
                PhoneRecognizer(supported_regions=PHONE_REGIONS),
                DateRecognizer(),
                UkPostcodeRecognizer(),
            ):
                registry.add_recognizer(recognizer)
            engine = NoOpNlpEngine([{"lang_code": "en", "model_name": "none"}])
            _analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])
        return _analyzer


def _presidio(text: str) -> list[Finding]:
    out = []
    for r in analyzer().analyze(text, language="en", entities=list(_PRESIDIO_KIND)):
        if r.entity_type == "PHONE_NUMBER" and re.search(r"[A-Za-z]", text[r.start : r.end]):
            continue  # libphonenumber reads the digits of "CR-2019-004512" as a number; that is a reference
        out.append(
            Finding(
                _PRESIDIO_KIND[r.entity_type],
                r.start,
                r.end,
                text[r.start : r.end],
                f"presidio:{r.entity_type}",
            )
        )
    return out


# ------------------------------------------------------------------------------------------------- word lists

# Locales whose first names form the gazetteer (Latin-script names only). The evaluation plants names from
# these and, separately, from locales not listed here, so that its recall is not just the list looking
# itself up.
GAZETTEER_LOCALES = (
    "en_GB",
    "en_US",
    "en_IE",
    "en_IN",
    "en_NG",
    "en_KE",
    "en_PK",
    "de_DE",
    "fr_FR",
    "es_ES",
    "es_MX",
    "it_IT",
    "pt_BR",
    "nl_NL",
    "pl_PL",
    "tr_TR",
    "ro_RO",
    "id_ID",
)
_LATIN_NAME = re.compile(r"^[A-Z][a-zà-öø-ÿ'’-]{1,}$")
# Words a spell checker knows this often are ordinary words; below it, a capitalised word is more likely a
# name than a word (pyspellchecker's English list counts subtitles; "therapist" 8,378, "tyler" 1,828).
COMMON_WORD_COUNT = 5000
UNKNOWN_WORD_COUNT = 300


@lru_cache(maxsize=1)
def _names() -> tuple[frozenset[str], frozenset[str]]:
    first: set[str] = set()
    last: set[str] = set()
    for locale in GAZETTEER_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr, into in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("last_names", last),
        ):
            values = getattr(provider, attr, ())
            into.update(
                v for v in (values.keys() if isinstance(values, dict) else values) if _LATIN_NAME.match(v)
            )
    return frozenset(first), frozenset(last)


def first_names() -> frozenset[str]:
    return _names()[0]


@lru_cache(maxsize=1)
def _words() -> Any:
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1).word_frequency


def word_count(word: str) -> int:
    return int(_words()[word.lower()])


@lru_cache(maxsize=1)
def _known_proper() -> frozenset[str]:
    """Capitalised words that are not personal names: countries, languages, months, days, institutions."""
    from babel import Locale

    en = Locale("en")
    words: set[str] = set()
    first, last = _names()
    for name in [*en.territories.values(), *en.languages.values()]:
        parts = [w for w in re.findall(r"[A-Za-zÀ-ÿ]+", name) if w[0].isupper()]
        # "Saint Martin" must not make Martin a place; a one-word country (Jordan, Chad) stays a place
        words.update(w for w in parts if len(parts) == 1 or (w not in first and w not in last))
    words.update(en.months["format"]["wide"].values())
    words.update(en.days["format"]["wide"].values())
    words.update(_INSTITUTION_WORDS)
    return frozenset(words)


_INSTITUTION_WORDS = {
    "Police",
    "Constabulary",
    "Council",
    "Services",
    "Service",
    "Children",
    "Children's",
    "Social",
    "Care",
    "Court",
    "Family",
    "Hospital",
    "Clinic",
    "Trust",
    "Foundation",
    "Team",
    "Unit",
    "Agency",
    "Department",
    "Ministry",
    "Network",
    "Centre",
    "Center",
    "Health",
    "Mental",
    "Safeguarding",
    "Board",
    "Partnership",
    "Youth",
    "Justice",
    "Protection",
    "Online",
    "Internet",
    "Recovery",
    "Global",
    "National",
    "International",
    "Marie",
    "Collins",
    "Haven",
    "Barnahus",
    "Child",
    "Advocacy",
    "Project",
    "Programme",
    "Multi",
    "Hub",
    "Helpline",
    "Childline",
    "Instagram",
    "Snapchat",
    "TikTok",
    "Facebook",
    "WhatsApp",
    "Discord",
    "Roblox",
    "Minecraft",
    "YouTube",
    "Twitch",
    "Telegram",
    "Kik",
    "Omegle",
    "Google",
    "Apple",
    "Microsoft",
    "Xbox",
    "PlayStation",
    "Fortnite",
    "Steam",
    "Reddit",
    "Twitter",
    "Signal",
    "Christmas",
    "Easter",
    "Ramadan",
    "Eid",
    "Diwali",
    "God",
    "English",
    "Maths",
    "Science",
    "Year",
    "Term",
    "Stage",
    "Key",
    "Level",
    "Form",
    "Tier",
    "Phase",
    "Week",
    "Month",
    "Session",
    "Plan",
    "Order",
    "Mr",
    "Mrs",
    "Ms",
    "Miss",
    "Mx",
    "Dr",
    "Prof",
    "Sgt",
    "CAMHS",
    "NHS",
    "GP",
    "DSL",
    "LADO",
    "SENCO",
}

# ----------------------------------------------------------------------------------------------------- rules

_NUM_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen)"
)
_AGE_NUM = rf"(?:\d{{1,2}}|{_NUM_WORD})"
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?:[0-3]?\d(?:st|nd|rd|th)?)"
_YEAR = r"(?:19|20)\d\d"
_WEEKDAY = r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)"
_STREET = (
    r"(?:Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Crescent|Cres|Gardens|Place|Pl|Court|"
    r"Ct|Terrace|Grove|Square|Sq|Hill|Row|Walk|Mews|Park|Rise|View|Boulevard|Blvd|Parade|Green|Vale|"
    r"Strasse|Straße|Weg|Allee|Rue|Calle|Avenida|Via|Rua)"
)
_LOWER = r"[^\W\d_A-Z]"  # a letter that is not an ASCII capital: good enough for "lower-case" in names
_CAP = rf"[A-ZÀ-ÖØ-ÞĀ-Ž](?:{_LOWER}|['’])+(?:-[A-ZÀ-ÖØ-ÞĀ-Ž](?:{_LOWER}|['’])+)?"
_SCHOOL_END = (
    r"(?:Primary School|Infant School|Junior School|Secondary School|High School|Middle School|"
    r"Grammar School|Community School|Academy|School|College|Nursery|Kindergarten|Gymnasium|Lycée|"
    r"Collège|Escuela|Colegio|Elementary)"
)
_PLATFORM = (
    r"(?:Instagram|Snapchat|Snap|TikTok|Discord|Roblox|Minecraft|Xbox|PlayStation|PSN|Steam|Twitch|"
    r"Telegram|Kik|WhatsApp|Facebook|Twitter|X|Reddit|YouTube|Fortnite|Omegle|Wink|Yubo|Skype)"
)

RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (kind, name, re.compile(pattern, flags))
    for kind, name, pattern, flags in (
        # dates of birth: a date (or month and year) right after a birth cue; group 1 is the date
        (
            "dob",
            "birth-cue",
            rf"(?:\bborn(?:\s+on)?|\bD\.?O\.?B\.?|\bdate of birth|\bbirthday(?:\s+is)?|\bb\.)"
            rf"[\s:,(]*(?:on\s+)?"
            rf"((?:{_WEEKDAY})?(?:{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}|{_MONTH}\s+{_DAY},?\s+{_YEAR}|"
            rf"\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:{_YEAR}|\d\d)|{_YEAR}-\d\d-\d\d|{_MONTH}\s+{_YEAR}|{_DAY}\s+(?:of\s+)?"
            rf"{_MONTH}))",
            re.IGNORECASE,
        ),
        # written dates
        (
            "date",
            "day-month-year",
            rf"\b(?:{_WEEKDAY})?{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b",
            re.IGNORECASE,
        ),
        ("date", "month-day-year", rf"\b(?:{_WEEKDAY})?{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),
        (
            "date",
            "day-month",
            rf"\b(?:{_WEEKDAY})?{_DAY}\s+(?:of\s+)?{_MONTH}\b(?!\s+{_YEAR})",
            re.IGNORECASE,
        ),
        ("date", "month-day", rf"\b{_MONTH}\s+[0-3]?\d(?:st|nd|rd|th)\b", re.IGNORECASE),
        ("date", "weekday-day", rf"\b{_WEEKDAY}(?:the\s+)?[0-3]?\d(?:st|nd|rd|th)\b", re.IGNORECASE),
        ("date", "month-year", rf"\b{_MONTH}\s+{_YEAR}\b", 0),
        ("date", "numeric", rf"\b(?:\d{{1,2}}[/.]\d{{1,2}}[/.](?:{_YEAR}|\d\d)|{_YEAR}-[01]\d-[0-3]\d)\b", 0),
        # exact ages
        (
            "age",
            "years-old",
            rf"\b{_AGE_NUM}[\s-]*(?:years?|yrs?|months?)[\s-]*old\b|\b{_AGE_NUM}\s?(?:yo|y/o)\b",
            re.IGNORECASE,
        ),
        (
            "age",
            "aged",
            rf"\b(?:aged?|age of|ages of|turned|turning|is now|was just)\s+{_AGE_NUM}\b"
            rf"(?:\s+and\s+{_AGE_NUM}\b)?",
            re.IGNORECASE,
        ),
        (
            "age",
            "birthday",
            rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)|{_NUM_WORD}th|first|second|third|fifth|eighth|"
            rf"ninth|twelfth)\s+birthday\b",
            re.IGNORECASE,
        ),
        ("age", "name-paren", r"(?<=[A-Za-z])\s\((\d{1,2})\)", 0),
        # street addresses: number + street words + street type, then town/postcode words
        (
            "address",
            "street",
            rf"\b(?:(?:Flat|Apartment|Apt|Unit)\s+\d+[A-Za-z]?,?\s+)?\d{{1,4}}[A-Za-z]?,?\s+(?:{_CAP}\s+){{1,3}}"
            rf"{_STREET}\b(?:,?\s+(?!(?:and|but|in|on|at|the)\b)[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)?",
            0,
        ),
        ("address", "street-no-number", rf"\b(?:on|in|at|from|of)\s+((?:{_CAP}\s+){{1,2}}{_STREET})\b", 0),
        ("address", "uk-postcode", r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", 0),
        ("address", "us-zip", r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b", 0),
        ("address", "po-box", r"\bP\.?\s?O\.?\s+Box\s+\d+\b", re.IGNORECASE),
        # schools: capitalised words ending in a school word (St Mary's Primary School, Hillside Academy)
        (
            "school",
            "school-name",
            rf"\b(?:(?:St\.?|Saint)\s+)?(?:{_CAP}\s+){{1,4}}(?:C of E\s+|CE\s+|RC\s+)?"
            rf"{_SCHOOL_END}\b",
            0,
        ),
        (
            "school",
            "school-first",
            rf"\b(?:Escuela|Colegio|Lycée|Collège|Gymnasium|Instituto|École|Ecole|Scuola|"
            rf"Liceo|Szkoła|Schule|School|Academy)\s+(?:(?:of|de|du|del|la|des)\s+)?"
            rf"(?:{_CAP}\s?){{1,3}}",
            0,
        ),
        # usernames and handles
        ("username", "at-handle", r"(?<![\w.@])@[A-Za-z0-9_.]{2,30}\b", 0),
        (
            "username",
            "platform-handle",
            rf"\b{_PLATFORM}\b[\s:]*"
            r"(?:(?:user ?name|account|handle|name|profile|ID|id|tag|called|named|as|is|was)"
            r"\b[\s:]*)*[\"'“‘]?([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)",
            0,
        ),
        (
            "username",
            "cue-handle",
            r"\b(?:user ?name|screen ?name|gamer ?tag|handle|account name|profile name|display name|"
            r"online name|"
            r"went by|goes by|posting as|posted as)\b[\s:]*(?:(?:was|is|of)\b[\s:]*)?[\"'“‘]?"
            r"([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)",
            re.IGNORECASE,
        ),
        (
            "username",
            "profile-url",
            r"\b(?:https?://)?(?:www\.)?[a-z]+\.(?:com|gg|tv|net|org)/@?[A-Za-z0-9_.-]{2,}",
            0,
        ),
        (
            "username",
            "handle-shape",
            r"(?<![\w@./-])(?=[A-Za-z0-9_.]*[A-Za-z])(?:[A-Za-z0-9]{2,}(?:[_.][A-Za-z0-9_]+)+|"
            r"[A-Za-z]+[A-Za-z_]*\d{2,}[A-Za-z0-9_]*|x+[A-Z][A-Za-z]+x+)(?![\w@/-])",
            0,
        ),
        # phone numbers libphonenumber rejects as invalid (typos, invented ranges): 9-15 digits in groups
        (
            "phone",
            "digit-groups",
            r"(?<![\w/.-])(?:\+|00)?\(?\d{1,4}\)?(?:[\s.-]?\(?\d{1,5}\)?){2,6}"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?(?![\w/-])",
            0,
        ),
        # case and reference numbers
        (
            "case_number",
            "cue-number",
            r"\b(?:case|crime|incident|referral|file|ref(?:erence)?|CR|URN|log|occurrence|NHS|patient|ticket|"
            r"report)\s*(?:no\.?|number|num|#|ref(?:erence)?\.?|ID)?\s*(?:number|no\.?)?\s*(?:is|was|:)?\s*#?"
            r"([A-Z0-9][A-Z0-9/-]*\d[A-Z0-9/-]*(?:\s\d{3,4}){0,2})",
            re.IGNORECASE,
        ),
        (
            "case_number",
            "code-shape",
            r"\b(?=[A-Z0-9/-]*\d)(?=[A-Z0-9/-]*[A-Z])[A-Z]{1,6}[-/]?\d{2,}(?:[-/][A-Z0-9]+)+\b",
            0,
        ),
        ("case_number", "slashed-number", r"\b\d{2,6}/\d{2,8}(?:/\d{2,4})+\b", 0),
        ("case_number", "long-number", r"\b\d{6,}\b", 0),
        # names announced by a title, a relationship or a cue word
        (
            "name",
            "title",
            rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sgt|PC|DC|DS|DI|Officer|Detective|Constable|"
            rf"Auntie|Aunt|Uncle|Nan|Nana|Grandma|Granny|Grandad|Grandpa|Cousin|Sister|Brother)\.?\s+"
            rf"((?:{_CAP})(?:\s+{_CAP})?)",
            0,
        ),
        (
            "name",
            "cue",
            rf"\b(?:named|called|known as|name is|name was|nicknamed|calls? (?:him|her|them)self|"
            rf"pseudonym)\s+[\"'“‘]?((?:{_CAP})(?:\s+{_CAP})?)",
            0,
        ),
    )
)
_CAPITALISED = re.compile(r"(?<![\w'’@#./-])([^\W\d_][^\W\d_]*(?:['’-][^\W\d_]+)*?)(?:['’]s)?(?![\w@/'’-])")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"“(]\s*|^\s*[-*•]\s*)$")


def _rule_findings(text: str) -> list[Finding]:
    out = []
    for kind, name, pattern in RULES:
        for m in pattern.finditer(text):
            start, end = (m.start(1), m.end(1)) if m.re.groups and m.group(1) else (m.start(), m.end())
            value = text[start:end]
            if kind == "username" and _plain_word(value):
                continue  # "her Instagram account was private": the word after the cue is not a handle
            if (
                name == "digit-groups"
                and not 9 <= sum(c.isdigit() for c in re.split("x|ext", value)[0]) <= 15
            ):
                continue
            out.append(Finding(kind, start, end, value, f"rule:{name}"))
    return out


def _plain_word(value: str) -> bool:
    return value.isalpha() and word_count(value) >= UNKNOWN_WORD_COUNT


def _capitalised(word: str) -> bool:
    return word[0].isupper() and not word.isupper()


def _is_name_word(word: str, at_start: bool) -> bool:
    first, _ = _names()
    if word in _known_proper():
        return False
    if "-" in word:  # Smith-Jones, Multi-agency: named by its parts
        parts = [p for p in word.split("-") if p]
        return any(p in first for p in parts) or all(word_count(p) < UNKNOWN_WORD_COUNT for p in parts)
    if word in first:
        # Names that are also everyday words (Hope, Grace, Peer) count in mid-sentence only.
        return not at_start or (word_count(word) < COMMON_WORD_COUNT and word not in _ORDINARY)
    # A capitalised word inside a sentence is a proper noun; unless it is a place or an institution (known
    # above) it is most likely a name. At a sentence start only rare words are taken.
    return len(word) > 2 and word_count(word) < (UNKNOWN_WORD_COUNT if at_start else COMMON_WORD_COUNT)


def _name_findings(text: str) -> list[Finding]:
    """Capitalised words that are names by the gazetteer or by not being ordinary words, with the surname
    that follows them."""
    out: list[Finding] = []
    tokens = [m for m in _CAPITALISED.finditer(text) if _capitalised(m.group(1))]
    i = 0
    while i < len(tokens):
        m = tokens[i]
        at_start = m.start() == 0 or bool(_SENTENCE_START.search(text[max(0, m.start() - 3) : m.start()]))
        if not _is_name_word(m.group(1), at_start):
            i += 1
            continue
        start, end = m.start(1), m.end(1)
        j = i + 1
        while j < len(tokens) and text[end : tokens[j].start()] == " ":
            nxt = tokens[j].group(1)
            if nxt in _known_proper():
                break
            end = tokens[j].end(1)
            j += 1
        out.append(Finding("name", start, end, text[start:end], "rule:name-word"))
        i = j
    return out


# Gazetteer names that are ordinary words at the start of a sentence in professional writing.
_ORDINARY = frozenset(
    {
        "Peer",
        "Case",
        "Page",
        "Lane",
        "Early",
        "Young",
        "Royal",
        "Major",
        "Social",
        "Baby",
        "Parent",
        "Carer",
        "Trust",
        "Police",
        "Court",
        "Noble",
        "Rich",
        "Sky",
        "Star",
        "Art",
        "Amber",
        "Ivy",
        "Ruby",
        "Pearl",
        "Coral",
        "Jade",
        "Ash",
        "Bay",
        "Brook",
        "Clay",
    }
)


def _weight(f: Finding) -> tuple[int, bool, int]:
    # longest span first; on a tie a rule (which saw the cue words) beats a bare pattern, then the kind order
    return f.end - f.start, f.source.startswith("rule:"), -_PRIORITY[f.kind]


def _merge(findings: Iterable[Finding], text: str) -> list[Finding]:
    """Overlapping spans become one, named by the weightiest of them (``_weight``)."""
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    merged: list[Finding] = []
    best: Finding | None = None  # the finding that names the current merged span
    for f in ordered:
        if f.end <= f.start:
            continue
        if merged and best is not None and f.start < merged[-1].end:
            last = merged[-1]
            if _weight(f) > _weight(best):
                best = f
            end = max(last.end, f.end)
            merged[-1] = Finding(best.kind, last.start, end, text[last.start : end], best.source)
        else:
            merged.append(f)
            best = f
    return merged


def check(text: str) -> list[Finding]:
    """Every span of ``text`` that may identify a child, a family or a professional, in text order."""
    if not text.strip():
        return []
    return _merge([*_presidio(text), *_rule_findings(text), *_name_findings(text)], text)
