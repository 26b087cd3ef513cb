"""Library versions and full-text search: the same results contract on SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

import pytest
from portal_builders import approved

from haven.errors import DecodeError
from haven.portal import library, search
from haven.portal.store import PortalStore

DOCS = [
    (
        "Supporting children after online abuse",
        "guide",
        "en",
        "Therapists support children recovering from online sexual abuse. Parents need their own support.",
    ),
    (
        "Interviewing children once",
        "guideline",
        "en",
        "Interview a child once, with a trained officer; repeated interviews harm recovery.",
    ),
    ("Accompagner les familles", "guide", "fr", "Les parents ont besoin d'un soutien pendant l'enquête."),
]


@pytest.fixture
def library_store(store: PortalStore) -> PortalStore:
    with store.begin() as db:
        actor = approved(db)
        for title, kind, lang, body in DOCS:
            library.create(
                db,
                actor,
                title=title,
                kind=kind,
                country="GB",
                language=lang,
                audience="all",
                tags=["recovery"],
                markdown=body,
            )
    return store


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("recovering", ["Supporting children after online abuse"]),  # stemmed: recovering ~ recovery
        ("interview", ["Interviewing children once"]),
        ('"repeated interviews"', ["Interviewing children once"]),
        ("children -interview", ["Supporting children after online abuse"]),
        ("parents support", ["Supporting children after online abuse"]),
        ("enquête", ["Accompagner les familles"]),
        ("NEAR(children abuse) OR *", []),
        ("", []),
    ],
)
def test_same_results_on_both_databases(library_store: PortalStore, query: str, titles: list[str]) -> None:
    with library_store.begin() as db:
        hits = search.search(db, query)
    assert sorted(h.title for h in hits) == sorted(titles)


def test_title_outranks_body_and_snippets_are_safe(library_store: PortalStore) -> None:
    with library_store.begin() as db:
        actor = approved(db)
        library.create(
            db,
            actor,
            title="Notes",
            kind="guide",
            country="GB",
            language="en",
            audience="all",
            tags=[],
            markdown="<script>alert(1)</script> interviewing tips",
        )
        hits = search.search(db, "interviewing")
    assert hits[0].title == "Interviewing children once"
    notes = next(h for h in hits if h.title == "Notes")
    assert "<script>" not in notes.snippet_html and "<mark>" in notes.snippet_html


def test_new_version_replaces_indexed_text(library_store: PortalStore) -> None:
    with library_store.begin() as db:
        actor = approved(db)
        res = library.create(
            db,
            actor,
            title="Draft",
            kind="guide",
            country="XX",
            language="en",
            audience="all",
            tags=[],
            markdown="old wording about sandtray",
        )
        library.add_version(db, actor, res.id, markdown="new wording about play therapy", note="rewrite")
        assert search.search(db, "sandtray") == []
        assert [h.doc_id for h in search.search(db, "play therapy")] == [res.id]
        assert [v.version for v in library.versions(db, res.id)] == [2, 1]
        assert "sandtray" in library.version(db, res.id, 1).text


def test_pdf_text_is_extracted_and_bad_pdfs_are_refused(sqlite_store: PortalStore) -> None:
    pdf = _tiny_pdf("Safety planning with young people")
    assert "Safety planning" in library.pdf_text(pdf)
    with pytest.raises(DecodeError):
        library.pdf_text(b"%PDF-1.4 broken")
    with sqlite_store.begin() as db:
        res = library.create(
            db,
            approved(db),
            title="Planning",
            kind="guide",
            country="GB",
            language="en",
            audience="all",
            tags=[],
            pdf=pdf,
            filename="plan.pdf",
        )
        assert [h.doc_id for h in search.search(db, "safety planning")] == [res.id]


def test_markdown_is_rendered_without_raw_html() -> None:
    out = library.render_markdown("**bold** <img src=x onerror=alert(1)> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in out and "<img" not in out and 'href="javascript' not in out


def _tiny_pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica, written by hand (offsets computed)."""
    stream = f"BT /F1 18 Tf 40 700 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out
