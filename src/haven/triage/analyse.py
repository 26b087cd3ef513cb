"""From per-file hashes to a triaged case: known/unknown, duplicate groups, series, priorities with reasons.

Pure function of the stored rows and the banks, so a resumed run and an uninterrupted run
analyse to the same result (every ordering is by evidence path).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from haven.index import pdq_hex_to_array
from haven.index.frames import FrameSetIndex
from haven.matching import Match, Matcher
from haven.media import EvidencePath
from haven.signals import (
    PDQ_MATCH_THRESHOLD,
    PDQ_MIN_QUALITY,
    FrameSetSignal,
    Input,
    LookupKind,
    Variant,
    all_signals,
    get_signal,
)
from haven.signals.pdq import UPSCALED
from haven.triage.casedb import MD5, PDQ, FileRow
from haven.triage.cluster import UnionFind, near_pairs
from haven.triage.exif import has_leads

#: Default distance for joining unknown images into a series: looser than the 31-bit match
#: threshold (catches heavier edits) yet far below the ~90+ bits between unrelated photos.
SERIES_THRESHOLD = 48


@dataclass(frozen=True)
class Thresholds:
    """The PDQ match rules triage uses (distances in bits out of 256)."""

    match: int = PDQ_MATCH_THRESHOLD  # file ↔ bank entry: "known"
    duplicate: int = PDQ_MATCH_THRESHOLD  # file ↔ file: near-duplicate group
    series: int = SERIES_THRESHOLD  # file ↔ file (single linkage) and unknown ↔ bank: series / "near known"
    min_quality: int = PDQ_MIN_QUALITY  # PDQ hashes below this quality (flat images) are not compared
    # Small images whose own PDQ is not within ``match`` of a bank entry are also looked up by their
    # upscaled values (haven.hashing.ladder) at ``match``: PDQ drifts on thumbnails.
    upscaled: bool = True


@dataclass
class FileResult:
    row: FileRow
    status: str  # known | unknown | other | error | container
    hits: list[Match] = field(default_factory=list)
    near: list[Match] = field(default_factory=list)
    dup_group: int | None = None
    representative: bool = False
    series: int | None = None
    priority: int | None = None
    reasons: list[str] = field(default_factory=list)
    via: str | None = None  # known through a near-duplicate of this (directly matched) file
    via_distance: int | None = None
    upscaled_side: int | None = None  # known through this image's PDQ as if upscaled to this side


@dataclass
class Series:
    id: int
    members: list[str]
    images: int  # distinct MD5s
    unknown: int
    known: int
    touches_known: bool
    known_series: list[str]
    representative: str


@dataclass
class Group:
    id: int
    members: list[str]
    representative: str
    kind: str  # exact | near
    priority: int | None
    reasons: list[str]
    status: str


@dataclass
class Analysis:
    files: list[FileResult]
    groups: list[Group]
    series: list[Series]
    problems: list[tuple[str, str, str, bool]]
    thresholds: Thresholds

    def summary(self) -> dict[str, Any]:
        """The counts of the ``--json`` summary line (``out`` is added by the caller)."""
        count: dict[str, int] = defaultdict(int)
        for f in self.files:
            count[f.status] += 1
        non_containers = len(self.files) - count["container"]
        in_groups = sum(1 for f in self.files if f.dup_group is not None)
        return {
            "files": non_containers,
            "known": count["known"],
            "known_upscaled": sum(1 for f in self.files if f.upscaled_side is not None),
            "unknown": count["unknown"],
            "other": count["other"],
            "duplicates": in_groups - len(self.groups),
            "duplicate_groups": sum(1 for g in self.groups if len(g.members) > 1),
            "series": len(self.series),
            "series_touching_known": sum(1 for s in self.series if s.touches_known),
            "errors": count["error"] + sum(1 for p in self.problems if p[3]),
            "warnings": sum(1 for p in self.problems if not p[3]),
            "containers": count["container"],
        }


def _is_video(row: FileRow) -> bool:
    """A video that gave its video signals (vPDQ …)."""
    return row.kind == "video" and any(
        v and get_signal(s).input is Input.VIDEO for s, v in row.hashes.items()
    )


def _status(row: FileRow, hits: list[Match], parents: set[str]) -> str:
    if hits:
        return "known"
    media = (row.kind == "image" and row.get(PDQ)) or _is_video(row)
    if row.path in parents and not media:  # an image with a zip appended to it stays an image
        return "container"
    if row.error_code:
        return "error"
    if media:
        return "unknown"
    return "other"


def _video_pairs(rows: list[FileRow], t: Thresholds, threads: int) -> list[tuple[int, int]]:
    """Pairs of videos of the case that match each other by their frame-set signals' rule (the duplicate
    threshold as the per-frame distance): the same video re-encoded, resized, or cut from the other."""
    pairs = []
    for sig in all_signals():
        if sig.lookup is not LookupKind.FRAMES or not issubclass(sig, FrameSetSignal):
            continue
        idx = [i for i, r in enumerate(rows) if r.kind == "video" and r.get(sig.name) and not r.error_code]
        if len(idx) < 2:
            continue
        values = [rows[i].hashes[sig.name] for i in idx]
        index = cast(FrameSetIndex, sig.make_index())
        index.add(idx, values)
        found = index.match(values, sig.frame_rule(t.duplicate), threads=threads)
        for i, hits in zip(idx, found, strict=True):
            pairs += [(i, j) for j, _ in hits if j > i]
    return pairs


@dataclass(frozen=True)
class _Query:
    """What triage asks the Matcher about one file."""

    hashes: dict[str, str]
    variants: dict[str, tuple[Variant, ...]]


def _query(row: FileRow, comparable: bool, t: Thresholds) -> _Query:
    """The row's values, less the PDQ of an image that is not comparable (flat, or failed to decode)."""
    hashes = {s: v for s, v in row.hashes.items() if s != PDQ or comparable}
    variants = {s: tuple(v for v in vs if t.upscaled or v.family != UPSCALED)
                for s, vs in row.variants.items() if s in hashes}
    return _Query(hashes, variants)


def _known(rows: list[FileRow], comparable: set[int], matcher: Matcher, t: Thresholds, threads: int
           ) -> tuple[list[list[Match]], list[list[Match]], dict[int, int]]:
    """Bank matches of each file, near-known matches of unmatched comparable images, and the side of the
    upscaled value through which a file (and only through which) was matched."""
    queries = [_query(r, i in comparable, t) for i, r in enumerate(rows)]
    hits = matcher.match_results(queries, threshold=t.match, threads=threads)
    upscaled_side = {
        i: int(hs[0].variant.key)
        for i, hs in enumerate(hits)
        if hs and all(m.variant is not None and m.variant.family == UPSCALED for m in hs)
        and hs[0].variant is not None
    }
    near: list[list[Match]] = [[] for _ in rows]
    if t.series > t.match:
        # Near known: the file's own PDQ only. At the series threshold a look-up costs ~20x one
        # at 31 in a big bank (BENCHMARKS.md), and the upscaled values would multiply the count.
        unmatched = [i for i in sorted(comparable) if not hits[i]]
        values = sorted({rows[i].hashes[PDQ] for i in unmatched})
        found = dict(zip(values, matcher.match_many(PDQ, values, threshold=t.series, threads=threads),
                         strict=True))
        for i in unmatched:
            near[i] = found[rows[i].hashes[PDQ]]
    return hits, near, upscaled_side


def _label(hit: Match) -> str:
    return hit.series or f"{hit.bank} entry {hit.entry_id if hit.entry_id is not None else hit.value[:12]}"


def analyse(
    rows: list[FileRow],
    problems: list[tuple[str, str, str, bool]],
    matcher: Matcher | None,
    thresholds: Thresholds = Thresholds(),
    *,
    threads: int = 1,
) -> Analysis:
    """Triage the stored rows (sorted by path) against the banks behind ``matcher``.

    ``threads``: the PDQ look-ups and the near-duplicate queries are split over that many threads
    (the index kernel releases the GIL); the result does not depend on it."""
    t = thresholds
    rows = sorted(rows, key=lambda r: r.path)
    comparable = [
        i
        for i, r in enumerate(rows)
        if r.get(PDQ) and r.kind == "image" and r.quality.get(PDQ, 0) >= t.min_quality and not r.error_code
    ]

    # 1. Known: every signal's values through the Matcher (PDQ within the match threshold, the upscaled
    # values of small images as fallbacks); near-known for the rest; then one hop through near-duplicates.
    hits: list[list[Match]] = [[] for _ in rows]
    near: list[list[Match]] = [[] for _ in rows]
    upscaled_side: dict[int, int] = {}
    if matcher is not None:
        hits, near, upscaled_side = _known(rows, set(comparable), matcher, t, threads)
    graph = _PdqGraph.build(rows, comparable, max(t.duplicate, t.series), threads)
    via = _known_via_duplicates(rows, hits, graph, t.match)
    for j, (k, _) in via.items():
        hits[j], near[j] = list(hits[k]), []
    parents = {str(EvidencePath.parse(r.path).parent) for r in rows if r.depth > 0}
    results = [
        FileResult(
            row=r,
            status=_status(r, hits[i], parents),
            hits=hits[i],
            near=near[i],
            via=rows[via[i][0]].path if i in via else None,
            via_distance=via[i][1] if i in via else None,
            upscaled_side=upscaled_side.get(i),
        )
        for i, r in enumerate(rows)
    ]

    # 2. Duplicate groups: same MD5, or PDQ within the duplicate threshold (single linkage), or videos that
    # match by their frames.
    members = [i for i, f in enumerate(results) if f.status != "container" and f.row.get(MD5)]
    dup_uf = _duplicates(rows, members, graph, t.duplicate)
    for a, b in _video_pairs(rows, t, threads):
        dup_uf.union(a, b)

    # 3. Series: single linkage at the (looser) series threshold, on top of the duplicate groups.
    series, series_of = _series(rows, results, members, dup_uf, graph)

    # 4. Priorities with reasons, then one row per duplicate group.
    by_id = {s.id: s for s in series}
    for i, f in enumerate(results):
        f.series = series_of.get(i)
        if f.status in ("known", "unknown"):
            f.priority, f.reasons = _priority(f, by_id.get(f.series) if f.series else None)
    groups = _groups(rows, results, members, dup_uf)
    return Analysis(files=results, groups=groups, series=series, problems=problems, thresholds=t)


@dataclass
class _PdqGraph:
    """The comparable images by distinct PDQ (``holders[k]``: the rows holding the k-th value) and the
    pairs of distinct values within a distance (``(a, b, d)`` over those indexes)."""

    holders: list[list[int]]
    pairs: list[tuple[int, int, int]]

    @classmethod
    def build(cls, rows: list[FileRow], comparable: list[int], threshold: int, threads: int) -> _PdqGraph:
        uniq = sorted({rows[i].hashes[PDQ] for i in comparable})
        pos = {v: k for k, v in enumerate(uniq)}
        holders: list[list[int]] = [[] for _ in uniq]
        for i in comparable:
            holders[pos[rows[i].hashes[PDQ]]].append(i)
        hashes = pdq_hex_to_array(uniq) if uniq else np.zeros((0, 32), np.uint8)
        return cls(holders, list(near_pairs(hashes, threshold, threads=threads)))


def _known_via_duplicates(rows: list[FileRow], hits: list[list[Match]], graph: _PdqGraph, match: int
                          ) -> dict[int, tuple[int, int]]:
    """One hop: a near-duplicate (PDQ within the match threshold) of a file that a bank matched is the same
    picture by the match rule itself, so it is known too (e.g. a smaller resize). ``{row: (the matched row
    it is known through, distance)}``, the closest (then first by path) when there are several."""
    via: dict[int, tuple[int, int]] = {}
    direct = {i for i in range(len(rows)) if hits[i]}
    for a, b, d in graph.pairs:
        if d > match:
            continue
        for src, dst in ((a, b), (b, a)):
            ks = [i for i in graph.holders[src] if i in direct]
            if not ks:
                continue
            k = min(ks, key=lambda i: rows[i].path)
            for j in graph.holders[dst]:
                if j in direct:
                    continue
                cur = via.get(j)
                if cur is None or (d, rows[k].path) < (cur[1], rows[cur[0]].path):
                    via[j] = (k, d)
    return via


def _duplicates(rows: list[FileRow], members: list[int], graph: _PdqGraph, duplicate: int) -> UnionFind:
    """Union of the rows with the same MD5, the same PDQ, or PDQs within ``duplicate`` bits."""
    uf = UnionFind(len(rows))
    by_md5: dict[str, int] = {}
    for i in members:
        uf.union(by_md5.setdefault(rows[i].hashes[MD5], i), i)
    for h in graph.holders:
        for i in h[1:]:
            uf.union(h[0], i)
    for a, b, d in graph.pairs:
        if d <= duplicate:
            uf.union(graph.holders[a][0], graph.holders[b][0])
    return uf


def _series(rows: list[FileRow], results: list[FileResult], members: list[int], dup_uf: UnionFind,
            graph: _PdqGraph) -> tuple[list[Series], dict[int, int]]:
    """Series (single linkage over every pair, on top of the duplicate groups) of two or more distinct
    images with at least one unknown, and the series of each row in one."""
    uf = UnionFind(len(rows))
    for i in members:
        uf.union(dup_uf.find(i), i)
    for a, b, _ in graph.pairs:
        uf.union(graph.holders[a][0], graph.holders[b][0])
    comps: dict[int, list[int]] = defaultdict(list)
    for i in members:
        comps[uf.find(i)].append(i)
    series_of: dict[int, int] = {}
    series: list[Series] = []
    for comp in sorted(comps.values(), key=lambda c: rows[c[0]].path):
        images = {rows[i].get(MD5) for i in comp if results[i].status in ("known", "unknown")}
        unknown = [i for i in comp if results[i].status == "unknown"]
        if len(images) < 2 or not unknown:
            continue
        known = [i for i in comp if results[i].status == "known"]
        names = sorted({_label(h) for i in comp for h in results[i].hits + results[i].near})
        sid = len(series) + 1
        series.append(
            Series(
                id=sid,
                members=[rows[i].path for i in comp],
                images=len(images),
                unknown=len(unknown),
                known=len(known),
                touches_known=bool(names),
                known_series=names,
                representative=rows[_representative(rows, unknown)].path,
            )
        )
        for i in comp:
            series_of[i] = sid
    return series, series_of


def _groups(rows: list[FileRow], results: list[FileResult], members: list[int], dup_uf: UnionFind
            ) -> list[Group]:
    """One ``Group`` per duplicate group (its representative, the top priority and reasons of its members);
    sets each member's ``dup_group`` and ``representative``."""
    comps: dict[int, list[int]] = defaultdict(list)
    for i in members:
        comps[dup_uf.find(i)].append(i)
    groups: list[Group] = []
    for comp in sorted(comps.values(), key=lambda c: rows[c[0]].path):
        gid = len(groups) + 1
        rep = _representative(rows, comp)
        kind = "exact" if len({rows[i].get(MD5) for i in comp}) == 1 else "near"
        top = max(comp, key=lambda i: (results[i].priority or -1, -i))
        reasons = list(results[top].reasons)
        if len(comp) > 1:
            reasons.append(f"{len(comp)} copies ({kind} duplicates)")
        status = "known" if any(results[i].status == "known" for i in comp) else results[top].status
        groups.append(
            Group(
                id=gid,
                members=[rows[i].path for i in comp],
                representative=rows[rep].path,
                kind=kind,
                priority=results[top].priority,
                reasons=reasons,
                status=status,
            )
        )
        for i in comp:
            results[i].dup_group = gid
            results[i].representative = i == rep
    return groups


def _representative(rows: list[FileRow], idx: list[int]) -> int:
    """Largest picture, then best PDQ quality, then first path: the copy an examiner would look at."""
    return min(
        idx,
        key=lambda i: (
            -(rows[i].width or 0) * (rows[i].height or 0),
            -rows[i].quality.get(PDQ, 0),
            rows[i].path,
        ),
    )


def _priority(f: FileResult, series: Series | None) -> tuple[int, list[str]]:
    """The documented score (docs/triage.md, "Priority"); higher = look sooner."""
    exif = f.row.exif or {}
    if f.status == "known":
        victim = [h.victim_identified for h in f.hits]
        cats = sorted({f"{h.bank}:{h.category}" for h in f.hits if h.category})
        reasons = [
            f"known: matches {', '.join(sorted({_label(h) for h in f.hits}))}"
            + (f" (category {', '.join(cats)})" if cats else "")
        ]
        if f.via is not None:
            reasons.append(f"through a near-duplicate (PDQ distance {f.via_distance}) of {f.via}")
        if f.upscaled_side is not None:
            reasons.append(
                f"small image ({f.row.width}x{f.row.height}): matched by its PDQ as if upscaled to "
                f"{f.upscaled_side} px (distance {f.hits[0].distance})"
            )
        elif f.hits and all(h.variant is not None for h in f.hits):  # only through variants: say which
            labels = sorted({h.variant.label for h in f.hits if h.variant is not None})
            reasons.append(f"matched through a variant of the picture: {', '.join(labels)}")
        score = 10
        if not any(v is True for v in victim):
            score += 10
            reasons.append("victim not identified in any matching bank")
        else:
            reasons.append("victim already identified")
        return score, reasons
    score, reasons = 50, ["unknown: in no bank (possible new material)"]
    if f.near:
        best = f.near[0]
        score += 40
        reasons.append(f"near known series {_label(best)} (PDQ distance {best.distance})")
    elif series is not None and series.touches_known:
        score += 40
        reasons.append(f"in series S{series.id} which touches known {', '.join(series.known_series)}")
    if "gps_lat" in exif:
        score += 15
        reasons.append(f"EXIF GPS {exif['gps_lat']:.5f},{exif['gps_lon']:.5f}")
    if "serial" in exif or "owner" in exif:
        score += 10
        reasons.append(
            "EXIF camera serial/owner " + " / ".join(str(exif[k]) for k in ("serial", "owner") if k in exif)
        )
    if has_leads(exif) and ("make" in exif or "model" in exif or "datetime_original" in exif):
        score += 5
        bits = [str(exif[k]) for k in ("make", "model", "datetime_original") if k in exif]
        reasons.append("EXIF camera/date " + " ".join(bits))
    if series is not None:
        score += 5
        reasons.append(f"part of series S{series.id} ({series.images} distinct images)")
    return score, reasons
