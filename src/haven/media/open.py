"""Read files back by their EvidencePath (e.g. the report's thumbnails), never extracting to disk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from haven.errors import FileAccessError
from haven.media.evidence import EvidencePath
from haven.media.limits import Limits
from haven.media.walk import Entry, walk


def read_evidence(paths: Iterable[EvidencePath], limits: Limits = Limits()) -> dict[EvidencePath, bytes]:
    """The bytes of each path that can still be reached; unreachable ones are left out.

    Files on the file system are read directly; members are found with one walk per source
    that reads only the wanted members.
    """
    by_source: dict[str, set[EvidencePath]] = defaultdict(set)
    out: dict[EvidencePath, bytes] = {}
    for p in paths:
        if p.depth == 0:
            try:
                with open(p.parts[0], "rb") as fh:
                    out[p] = fh.read(limits.max_member_bytes)
            except OSError:
                continue
        else:
            by_source[p.parts[0]].add(p)
    for source, wanted in sorted(by_source.items()):
        remaining = set(wanted)
        for item in walk([source], limits, want=remaining.__contains__):
            if isinstance(item, Entry) and item.path in remaining:
                try:
                    out[item.path] = item.read()
                except FileAccessError:
                    pass
                remaining.discard(item.path)
                if not remaining:
                    break
    return out
