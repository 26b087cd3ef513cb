"""Read files back by their EvidencePath (e.g. the report's thumbnails), never extracting to disk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from haven.errors import FileAccessError, InputError
from haven.media.evidence import EvidencePath
from haven.media.items import Entry, Problem, os_error_text
from haven.media.limits import Limits
from haven.media.walk import walk


def read_evidence(
    paths: Iterable[EvidencePath], limits: Limits = Limits()
) -> tuple[dict[EvidencePath, bytes], list[Problem]]:
    """The bytes of each path that can still be reached, and a ``Problem`` for each that cannot.

    Files on the file system are read directly (at most ``limits.max_member_bytes``); members
    are found with one walk per source that reads only the wanted members.
    """
    by_source: dict[str, set[EvidencePath]] = defaultdict(set)
    out: dict[EvidencePath, bytes] = {}
    problems: list[Problem] = []
    for p in paths:
        if p.depth == 0:
            try:
                with open(p.parts[0], "rb") as fh:
                    out[p] = fh.read(limits.max_member_bytes)
            except OSError as exc:
                problems.append(_missing(p, f"cannot read: {os_error_text(exc)}", "unreadable"))
        else:
            by_source[p.parts[0]].add(p)
    for source, wanted in sorted(by_source.items()):
        remaining = set(wanted)
        for item in walk([source], limits, want=remaining.__contains__):
            if item.path not in remaining or (isinstance(item, Problem) and not item.skipped):
                continue  # a warning (e.g. path traversal) comes before the member itself
            if isinstance(item, Entry):
                try:
                    out[item.path] = item.read(limits.max_member_bytes)
                except InputError as exc:
                    problems.append(Problem(item.path, exc))
            else:
                problems.append(item)
            remaining.discard(item.path)
            if not remaining:
                break
        problems += [_missing(p, "no longer found in its container", "not_found") for p in sorted(remaining)]
    return out, problems


def _missing(path: EvidencePath, message: str, code: str) -> Problem:
    return Problem(path, FileAccessError(message, path=str(path), code=code))


__all__ = ["read_evidence"]
