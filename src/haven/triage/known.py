"""What triage needs from the banks: exact and PDQ look-ups, behind a small protocol.

``BankMatcher`` adapts ``haven.matching.Matcher`` (the one orchestrator every shell uses);
``HashListMatcher`` is an in-memory list for tests and for a bare hash list without a bank.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from haven.index import HammingIndex, pdq_hex_to_array


@dataclass(frozen=True)
class Hit:
    """One bank entry that a file's hash matched (``distance`` 0 for exact digests)."""

    bank: str
    signal: str
    value: str
    distance: int
    category: str | None = None
    category_scheme: str | None = None
    severity: int | None = None
    series: str | None = None
    victim_identified: bool | None = None
    entry_id: int | None = None


class KnownMatcher(Protocol):
    """Bank look-ups, many values per call (triage asks for the whole case at once)."""

    def match_exact(self, signal: str, values: Sequence[str]) -> list[list[Hit]]:
        """Hits for each digest (md5, sha1, sha256), in input order."""
        ...

    def match_pdq(self, values: Sequence[str], threshold: int, *, threads: int = 1) -> list[list[Hit]]:
        """Hits within ``threshold`` bits for each PDQ hex, in input order (``threads`` for a big batch)."""
        ...


def hit_from_match(m: Any) -> Hit:
    """A ``Hit`` from anything shaped like ``haven.matching.Match``."""
    return Hit(
        bank=str(m.bank),
        signal=str(m.signal),
        value=str(m.value),
        distance=int(m.distance or 0),
        category=getattr(m, "category", None),
        category_scheme=getattr(m, "category_scheme", None),
        severity=getattr(m, "severity", None),
        series=getattr(m, "series", None),
        victim_identified=getattr(m, "victim_identified", None),
        entry_id=getattr(m, "entry_id", None),
    )


class BankMatcher:
    """``KnownMatcher`` over the real ``haven.matching.Matcher`` (optionally restricted to some banks).

    Digests: the store's digest values are read once into a set, so the whole case costs one pass
    over the banks instead of one query per file; the candidates are then confirmed in batches
    through ``Matcher.match_many_digests`` (which applies enabled banks and feedback).
    """

    def __init__(self, matcher: Any, banks: Iterable[str] | None = None) -> None:
        self.matcher = matcher
        self.banks = set(banks) if banks else None
        self._digests: set[tuple[str, str]] | None = None

    def _keep(self, matches: Iterable[Any]) -> list[Hit]:
        hits = [hit_from_match(m) for m in matches]
        return [h for h in hits if self.banks is None or h.bank in self.banks]

    def _digest_set(self) -> set[tuple[str, str]]:
        if self._digests is None:
            store = self.matcher.store
            self._digests = {
                (e.signal, e.value.lower())
                for b in store.list_banks()
                if self.banks is None or b.name in self.banks
                for e in store.iter_entries(b.name)
                if e.signal != "pdq"
            }
        return self._digests

    def match_exact(self, signal: str, values: Sequence[str]) -> list[list[Hit]]:
        present = self._digest_set()
        candidates = sorted({v for v in values if (signal, v.lower()) in present})
        found = dict(zip(candidates, self.matcher.match_many_digests(signal, candidates), strict=True))
        return [self._keep(found[v]) if v in found else [] for v in values]

    def match_pdq(self, values: Sequence[str], threshold: int, *, threads: int = 1) -> list[list[Hit]]:
        if not values:
            return []
        found = self.matcher.match_many_pdq(list(values), threshold=threshold, threads=threads)
        return [self._keep(ms) for ms in found]


class HashListMatcher:
    """An in-memory ``KnownMatcher`` over given entries (PDQ look-ups use ``HammingIndex``)."""

    def __init__(self, entries: Iterable[Hit]) -> None:
        self.exact: dict[tuple[str, str], list[Hit]] = {}
        self.pdq: list[Hit] = []
        for e in entries:
            if e.signal == "pdq":
                self.pdq.append(e)
            else:
                self.exact.setdefault((e.signal, e.value.lower()), []).append(e)
        self.index = HammingIndex()
        if self.pdq:
            self.index.add(
                np.arange(len(self.pdq), dtype=np.int64), pdq_hex_to_array([e.value for e in self.pdq])
            )

    def match_exact(self, signal: str, values: Sequence[str]) -> list[list[Hit]]:
        return [list(self.exact.get((signal, v.lower()), [])) for v in values]

    def match_pdq(self, values: Sequence[str], threshold: int, *, threads: int = 1) -> list[list[Hit]]:
        if not values or not self.pdq:
            return [[] for _ in values]
        queries = pdq_hex_to_array(list(values))
        out = []
        for ids, dists in self.index.query(queries, threshold, threads=threads):
            hits = [
                Hit(**{**self.pdq[int(i)].__dict__, "distance": int(d)})
                for i, d in zip(ids, dists, strict=True)
            ]
            out.append(sorted(hits, key=lambda h: (h.distance, h.bank, h.value)))
        return out
