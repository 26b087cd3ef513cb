"""The HTML case report: counts, series with blurred thumbnails, videos with a blurred key-frame strip
(pictures only: the sound is never read), the priority list, EXIF leads, errors.

Self-contained (thumbnails are data URIs; a Content-Security-Policy forbids any fetch) and
deterministic (no timestamps; every list sorted), so a resumed run renders the same bytes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from haven.media import EvidencePath, Limits, read_evidence
from haven.media.preview import blurred_preview, data_url
from haven.media.preview import blurred_strip as media_strip
from haven.triage.analyse import Analysis

THUMB_SIDE = 48  # pixels before blurring: recognisable as "a photo", never as its content
BLUR_RADIUS = 6
MAX_SERIES = 200
MAX_PRIORITY = 1000
MAX_ROWS = 1000
MAX_VIDEOS = 200
STRIP_FRAMES = 4


def blurred_thumbnail(data: bytes) -> str | None:
    """A tiny, heavily blurred JPEG data URI of an image, or None when it cannot be decoded (a thumbnail is
    optional; the report renders regardless)."""
    jpeg = blurred_preview(data, side=THUMB_SIDE, radius=BLUR_RADIUS, quality=40)
    return data_url(jpeg) if jpeg is not None else None


def blurred_strip(data: bytes, label: str = "video") -> str | None:
    """A strip of a video's key frames (up to ``STRIP_FRAMES``, each as tiny and blurred as a series
    thumbnail) as a JPEG data URI, or None when none can be decoded. Only the video stream is read."""
    from haven.hashing.video import keyframes

    try:
        frames = keyframes(data, label=label, count=STRIP_FRAMES)
    except Exception:  # noqa: BLE001 - a strip is optional; the report renders regardless
        return None
    jpeg = media_strip(frames, side=THUMB_SIDE, radius=BLUR_RADIUS, quality=40)
    return data_url(jpeg) if jpeg is not None else None


def _video_match(hit: Any) -> str:
    """How a bank entry matched a video (frame-set percentages where the match has them)."""
    d = hit.detail or {}
    found = (f" ({d['query_pct']:g}% of its frames, {d['compared_pct']:g}% of the banked video's)"
             if "query_pct" in d else "")
    return f"{hit.bank} entry {hit.entry_id} by {hit.signal}{found}"


def render_report(
    analysis: Analysis,
    *,
    summary: dict[str, Any],
    sources: list[dict[str, Any]],
    case_id: str,
    version: str,
    thumbnails: bool = True,
    limits: Limits = Limits(),
    banks: dict[str, Any] | None = None,
) -> str:
    """The report as one HTML string."""
    env = Environment(
        loader=PackageLoader("haven.triage", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    series = sorted(analysis.series, key=lambda s: (not s.touches_known, -s.unknown, s.id))[:MAX_SERIES]
    thumbs: dict[str, str] = {}
    if thumbnails and series:
        wanted = [EvidencePath.parse(s.representative) for s in series]
        found, _ = read_evidence(wanted, limits)  # one not found back shows without a thumbnail
        for path, data in found.items():
            uri = blurred_thumbnail(data)
            if uri:
                thumbs[str(path)] = uri
    videos = [f for f in analysis.files if f.row.kind == "video"][:MAX_VIDEOS]
    strips: dict[str, str] = {}
    if thumbnails and videos:
        wanted = [EvidencePath.parse(f.row.path) for f in videos if not f.row.error_code]
        found, _ = read_evidence(wanted, limits)
        for path, data in found.items():
            uri = blurred_strip(data, str(path))
            if uri:
                strips[str(path)] = uri
    categories: Counter[str] = Counter()
    for f in analysis.files:
        if f.status == "known":
            labels = sorted({f"{h.bank}: category {h.category or 'none'}" for h in f.hits})
            categories[labels[0] if len(labels) == 1 else " + ".join(labels)] += 1
    priority = sorted(
        (g for g in analysis.groups if g.priority is not None),
        key=lambda g: (-(g.priority or 0), g.representative),
    )[:MAX_PRIORITY]
    leads = [f for f in analysis.files if f.row.exif][:MAX_ROWS]
    errors = sorted(
        [(p, c, m) for p, c, m, _ in analysis.problems]
        + [(f.row.path, f.row.error_code, f.row.error_message) for f in analysis.files if f.row.error_code],
        key=lambda x: (x[0], x[1] or ""),
    )
    return env.get_template("report.html").render(
        summary=summary,
        sources=sources,
        banks=banks or {"banks": [], "entries": {}, "seq": None, "no_banks": True},
        case_id=case_id,
        version=version,
        thresholds=analysis.thresholds,
        categories=sorted(categories.items()),
        series=series,
        series_total=len(analysis.series),
        thumbs=thumbs,
        videos=[(f, [_video_match(h) for h in f.hits]) for f in videos],
        videos_total=sum(1 for f in analysis.files if f.row.kind == "video"),
        strips=strips,
        priority=priority,
        priority_total=sum(1 for g in analysis.groups if g.priority is not None),
        leads=leads,
        leads_total=sum(1 for f in analysis.files if f.row.exif),
        errors=errors[:MAX_ROWS],
        errors_total=len(errors),
    )
