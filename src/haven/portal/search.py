"""Full-text search over the library and published case studies, one results contract on both databases.

SQLite uses an FTS5 table (Porter stemming, diacritics folded, BM25 with the title weighted 10:1);
PostgreSQL a generated ``tsvector`` (English or French stemming by the document's language, title weight A,
body weight B) ranked by ``ts_rank_cd``. The query language is the same on both: words (all must match),
``"quoted phrases"`` and ``-excluded`` words. A hit's snippet is HTML-safe, with the matched words in
``<mark>``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from haven.portal.models import SearchDoc

_TOKEN = re.compile(r'(-?)"([^"]*)"|(-?)([\w][\w\'-]*)', re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)
# Control characters as snippet markers: they cannot occur in stored text (they are stripped), so
# escaping the snippet and then turning them into <mark> cannot be fooled by a document.
_OPEN, _CLOSE = "\x02", "\x03"
DOC_TYPES = ("resource", "case_study")


@dataclass(frozen=True)
class SearchHit:
    doc_type: str
    doc_id: int
    title: str
    snippet_html: str
    rank: float  # larger is better, comparable only within one result list


@dataclass(frozen=True)
class Query:
    """A parsed query: phrases and words that must match, and words that must not."""

    must: tuple[tuple[str, ...], ...]
    must_not: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.must


def parse(raw: str) -> Query:
    must: list[tuple[str, ...]] = []
    must_not: list[str] = []
    for neg_phrase, phrase, neg_word, word in _TOKEN.findall(raw[:500]):
        words = tuple(w.lower() for w in _WORD.findall(phrase or word))
        if not words:
            continue
        if neg_phrase or neg_word:
            must_not.extend(words)
        else:
            must.append(words)
    return Query(tuple(must), tuple(must_not))


def _clean(value: str) -> str:
    return value.replace(_OPEN, "").replace(_CLOSE, "")


def index(
    db: Session, doc_type: str, doc_id: int, title: str, body: str, *, language: str, country: str
) -> None:
    """Add or replace one document in the index (in the caller's transaction)."""
    row = db.scalar(select(SearchDoc).where(SearchDoc.doc_type == doc_type, SearchDoc.doc_id == doc_id))
    if row is None:
        db.add(
            SearchDoc(
                doc_type=doc_type,
                doc_id=doc_id,
                title=_clean(title),
                body=_clean(body),
                language=language,
                country=country,
            )
        )
    else:
        row.title, row.body, row.language, row.country = _clean(title), _clean(body), language, country
    db.flush()


def unindex(db: Session, doc_type: str, doc_id: int) -> None:
    db.execute(delete(SearchDoc).where(SearchDoc.doc_type == doc_type, SearchDoc.doc_id == doc_id))


def search(
    db: Session,
    raw: str,
    *,
    doc_type: str | None = None,
    language: str | None = None,
    country: str | None = None,
    limit: int = 20,
) -> list[SearchHit]:
    """Documents matching ``raw``, best first; an empty query finds nothing."""
    query = parse(raw)
    if query.empty:
        return []
    filters: list[str] = []
    params: dict[str, object] = {"limit": max(1, min(limit, 100))}
    for column, value in (("doc_type", doc_type), ("language", language), ("country", country)):
        if value:
            filters.append(f"d.{column} = :{column}")
            params[column] = value
    where = "".join(f" AND {f}" for f in filters)
    if db.get_bind().dialect.name == "postgresql":
        rows = _postgres(db, query, where, params)
    else:
        rows = _sqlite(db, query, where, params)
    return [
        SearchHit(doc_type=r[0], doc_id=int(r[1]), title=r[2], snippet_html=_mark(r[3]), rank=float(r[4]))
        for r in rows
    ]


def _mark(snippet: str) -> str:
    return html.escape(snippet).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _sqlite(db: Session, query: Query, where: str, params: dict[str, object]) -> list[tuple]:  # type: ignore[type-arg]
    # Every word is quoted, so no user input is read as FTS5 syntax (NEAR, column filters, *).
    def quote(words: tuple[str, ...]) -> str:
        return '"' + " ".join(w.replace('"', "") for w in words) + '"'

    match = " AND ".join(quote(p) for p in query.must)
    if query.must_not:
        match = f"({match}) NOT ({' OR '.join(quote((w,)) for w in query.must_not)})"
    params["match"] = match
    sql = (
        "SELECT d.doc_type, d.doc_id, d.title, "
        f"snippet(portal_search_fts, 1, '{_OPEN}', '{_CLOSE}', '…', 24), -bm25(portal_search_fts, 10.0, 1.0) "
        "FROM portal_search_fts JOIN portal_search_docs d ON d.id = portal_search_fts.rowid "
        f"WHERE portal_search_fts MATCH :match{where} ORDER BY bm25(portal_search_fts, 10.0, 1.0), d.id "
        "LIMIT :limit"
    )
    return [tuple(r) for r in db.execute(text(sql), params)]


_PG_CONFIG = (
    "CASE d.language WHEN 'en' THEN 'english'::regconfig WHEN 'fr' THEN 'french'::regconfig "
    "ELSE 'simple'::regconfig END"
)


def _postgres(db: Session, query: Query, where: str, params: dict[str, object]) -> list[tuple]:  # type: ignore[type-arg]
    # Terms go in as bound values through phraseto_tsquery (one phrase per must-group), never as tsquery text.
    parts = []
    for i, words in enumerate(query.must):
        params[f"m{i}"] = " ".join(words)
        parts.append(f"phraseto_tsquery({_PG_CONFIG}, :m{i})")
    tsq = " && ".join(parts)
    for i, word in enumerate(query.must_not):
        params[f"n{i}"] = word
        tsq = f"({tsq}) && !!plainto_tsquery({_PG_CONFIG}, :n{i})"
    sql = (
        f"SELECT d.doc_type, d.doc_id, d.title, "
        f"ts_headline({_PG_CONFIG}, d.body, {tsq}, 'StartSel={_OPEN}, StopSel={_CLOSE}, MaxWords=30, "
        f"MinWords=12, ShortWord=2, MaxFragments=1, FragmentDelimiter=…'), ts_rank_cd(d.tsv, {tsq}) AS r "
        f"FROM portal_search_docs d WHERE d.tsv @@ ({tsq}){where} ORDER BY r DESC, d.id LIMIT :limit"
    )
    return [tuple(r) for r in db.execute(text(sql), params)]
