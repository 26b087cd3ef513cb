"""The resource library: guides, guidelines and research summaries, in Markdown or as a PDF whose text is
extracted for search. Each change is a new version; old versions stay readable.
"""

from __future__ import annotations

import io
import re

from babel import Locale
from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.errors import DecodeError, InputError, NotFoundError
from haven.portal import search
from haven.portal.actors import Actor
from haven.portal.models import Resource, ResourceVersion, utcnow
from haven.portal.store import fetch

KINDS = ("guide", "guideline", "research_summary", "training")
AUDIENCES = ("all", "social_workers", "therapists", "police", "teachers", "health", "ngo", "parents")
MAX_PDF_BYTES = 20 * 1024 * 1024
_TAG = re.compile(r"^[\w -]{1,40}$", re.UNICODE)
_EN = Locale("en")
# CommonMark with raw HTML off: a resource can never carry script or styles into a member's browser.
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(body: str) -> str:
    """Markdown to safe HTML (raw HTML is escaped, ``javascript:`` links are refused by markdown-it)."""
    return str(_MD.render(body))


def pdf_text(data: bytes, filename: str = "upload.pdf") -> str:
    """The text of a PDF, page by page; ``DecodeError`` if it is not a readable PDF."""
    if len(data) > MAX_PDF_BYTES:
        raise InputError(f"PDF larger than {MAX_PDF_BYTES // 2**20} MiB", path=filename, code="too_large")
    if not data.startswith(b"%PDF-"):
        raise DecodeError("not a PDF file", path=filename)
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DecodeError("the PDF is encrypted", path=filename)
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"unreadable PDF: {exc}", path=filename) from exc


def _check_meta(kind: str, country: str, language: str, audience: str, tags: list[str]) -> list[str]:
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}", code="bad_kind")
    if audience not in AUDIENCES:
        raise InputError(f"audience must be one of {', '.join(AUDIENCES)}", code="bad_audience")
    if country != "XX" and country not in _EN.territories:
        raise InputError("country must be an ISO 3166 code (XX for international)", code="bad_country")
    if language not in _EN.languages:
        raise InputError("language must be an ISO 639 code", code="bad_language")
    clean = sorted({t.strip().lower() for t in tags if t.strip()})
    if any(not _TAG.match(t) for t in clean):
        raise InputError("tags are words of up to 40 letters, digits, spaces or dashes", code="bad_tag")
    return clean


def create(
    db: Session,
    actor: Actor,
    *,
    title: str,
    kind: str,
    country: str,
    language: str,
    audience: str,
    tags: list[str],
    markdown: str = "",
    pdf: bytes | None = None,
    filename: str | None = None,
) -> Resource:
    """Add a resource with its first version (Markdown text, or a PDF whose text is extracted)."""
    actor.require("member", "moderator", "admin")
    if not title.strip():
        raise InputError("title is required", code="missing_field")
    country = country.upper() or "XX"
    clean_tags = _check_meta(kind, country, language, audience, tags)
    resource = Resource(
        title=title.strip()[:300],
        kind=kind,
        country=country,
        language=language,
        audience=audience,
        tags=clean_tags,
        version=0,
        created_by=actor.member_id or None,
    )
    db.add(resource)
    db.flush()
    add_version(db, actor, resource.id, markdown=markdown, pdf=pdf, filename=filename, note="first version")
    return resource


def add_version(
    db: Session,
    actor: Actor,
    resource_id: int,
    *,
    markdown: str = "",
    pdf: bytes | None = None,
    filename: str | None = None,
    note: str = "",
) -> ResourceVersion:
    """Store a new version; the search index follows the newest one."""
    actor.require("member", "moderator", "admin")
    resource = get(db, resource_id)
    if pdf is not None:
        body = pdf_text(pdf, filename or "upload.pdf")
        if not body:
            raise InputError(
                "the PDF has no extractable text (a scan?); add a Markdown summary instead",
                path=filename,
                code="no_text",
            )
        version = ResourceVersion(
            body_markdown=markdown,
            text=body,
            filename=(filename or "upload.pdf")[:255],
            content_type="application/pdf",
            file_bytes=pdf,
        )
    else:
        if not markdown.strip():
            raise InputError("give Markdown text or a PDF", code="missing_field")
        version = ResourceVersion(
            body_markdown=markdown, text=markdown, filename=None, content_type=None, file_bytes=None
        )
    resource.version += 1
    resource.updated_at = utcnow()
    version.resource_id = resource.id
    version.version = resource.version
    version.note = note.strip()[:500]
    version.created_by = actor.member_id or None
    db.add(version)
    search.index(
        db,
        "resource",
        resource.id,
        resource.title,
        f"{' '.join(resource.tags)}\n{version.text}",
        language=resource.language,
        country=resource.country,
    )
    return version


def get(db: Session, resource_id: int) -> Resource:
    return fetch(db, Resource, resource_id, "resource")


def version(db: Session, resource_id: int, number: int | None = None) -> ResourceVersion:
    """One version of a resource, the newest by default."""
    resource = get(db, resource_id)
    wanted = number or resource.version
    row = db.scalar(
        select(ResourceVersion).where(
            ResourceVersion.resource_id == resource_id, ResourceVersion.version == wanted
        )
    )
    if row is None:
        raise NotFoundError(f"resource {resource_id} has no version {wanted}")
    return row


def versions(db: Session, resource_id: int) -> list[ResourceVersion]:
    return list(
        db.scalars(
            select(ResourceVersion)
            .where(ResourceVersion.resource_id == resource_id)
            .order_by(ResourceVersion.version.desc())
        )
    )


def listing(
    db: Session,
    *,
    kind: str | None = None,
    country: str | None = None,
    language: str | None = None,
    audience: str | None = None,
    tag: str | None = None,
) -> list[Resource]:
    """Resources, newest change first, filtered by their metadata."""
    query = select(Resource).order_by(Resource.updated_at.desc(), Resource.id.desc())
    for column, value in (
        (Resource.kind, kind),
        (Resource.country, country),
        (Resource.language, language),
        (Resource.audience, audience),
    ):
        if value:
            query = query.where(column == value)
    rows = list(db.scalars(query))
    return [r for r in rows if tag in r.tags] if tag else rows
