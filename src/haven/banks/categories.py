"""One severity scale for every source's category scheme (documented with sources in docs/banks.md).

Haven severity (higher = worse; ``None`` = the source gave no usable grade):

    4  most severe: sexual activity with a prepubescent child / penetration (US A1, UK A)
    3  severe: US A2, US B1, UK B
    2  illegal abuse material, lower or ungraded (US B2, UK C, Project VIC 1 "CAM")
    1  exploitive but not graded illegal: age-difficult, CGI/animation (Project VIC 2, 3)
    0  not pertinent / comparison or reference images (Project VIC 4, US-set 0, DHS 5)

Severity >= 2 means the source classifies the item as child sexual abuse material.
"""

from __future__ import annotations

SEVERITY_LABELS = {
    4: "most severe",
    3: "severe",
    2: "abuse material (lower or ungraded)",
    1: "exploitive, not graded illegal",
    0: "not pertinent",
}

#: scheme → {category label (upper case) → severity}
SCHEMES: dict[str, dict[str, int | None]] = {
    # Tech Coalition / NCMEC industry classification: A = prepubescent, B = pubescent;
    # 1 = sex act, 2 = lascivious exhibition.
    "us-industry": {"A1": 4, "A2": 3, "B1": 3, "B2": 2},
    # UK sentencing-council categories, used by the IWF hash list.
    "uk": {"A": 4, "B": 3, "C": 2},
    # Project VIC, US tag set (Autopsy ImageGalleryService): 0 Non-Pertinent, 1 CAM, 2 age difficult,
    # 3 CGI/animation, 4 comparison images.
    "projectvic-us": {"0": 0, "1": 2, "2": 1, "3": 1, "4": 0},
    # Older DHS scheme (Autopsy DhsImageCategory): 0 uncategorised … 5 non-pertinent.
    "projectvic-dhs": {"0": None, "1": 2, "2": 1, "3": 1, "4": 0, "5": 0},
    # Project VIC with an unknown or other country: 0 is ambiguous (non-pertinent vs uncategorised).
    "projectvic": {"0": None, "1": 2, "2": 1, "3": 1, "4": 0},
}


def infer_scheme(category: str | None) -> str | None:
    """Guess the scheme of a bare category label (A1…B2 → us-industry, A/B/C → uk), else None."""
    if category is None:
        return None
    c = category.strip().upper()
    if c in SCHEMES["us-industry"]:
        return "us-industry"
    if c in SCHEMES["uk"]:
        return "uk"
    return None


def severity_of(scheme: str | None, category: str | None) -> int | None:
    """The Haven severity of ``category`` in ``scheme`` (None when unknown or ungraded)."""
    if category is None:
        return None
    scheme = scheme or infer_scheme(category)
    if scheme is None:
        return None
    table = SCHEMES.get(scheme.lower())
    if table is None:
        return None
    return table.get(category.strip().upper())


def vics_scheme(country: str | None) -> str:
    """The Project VIC scheme for the country named in a VICS ``@odata.context`` URL."""
    if country and country.upper() == "US":
        return "projectvic-us"
    return "projectvic"


def known_schemes() -> str:
    """Every scheme with its categories, for messages: ``us-industry (A1, A2, B1, B2); uk (A, B, C); …``."""
    return "; ".join(f"{name} ({', '.join(table)})" for name, table in SCHEMES.items())


def category_problem(category: str | None, scheme: str | None) -> str | None:
    """Why ``category`` (in ``scheme``, given or inferred) is not one Haven can grade, naming the known
    schemes; None when it is graded (or there is no category)."""
    if category is None or not category.strip():
        return None
    if scheme is not None and scheme.lower() not in SCHEMES:
        return f"unknown category scheme {scheme!r}; known schemes: {known_schemes()}"
    resolved = scheme or infer_scheme(category)
    if resolved is None:
        return (f"category {category!r} is in no scheme Haven can tell by itself; give its scheme "
                f"(--scheme): {known_schemes()}")
    table = SCHEMES[resolved.lower()]
    if category.strip().upper() not in table:
        return f"category {category!r} is not in scheme {resolved} ({', '.join(table)}); known schemes: " \
            f"{known_schemes()}"
    return None
