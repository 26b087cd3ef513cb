"""The Matcher: hashes → bank hits. The one orchestrator the CLI, the service and triage call.

How a value is looked up is its signal's business (``SignalType.lookup``), keyed by (bank, signal):

- ``EXACT`` (MD5, SHA-1, SHA-256 …): the store's digest index, always fresh;
- ``DISTANCE`` (PDQ …): one in-memory index per (bank, signal), within the bank's threshold for that
  signal (or the caller's), kept in step with the database through the change log (``BankIndexes``).
- ``FRAMES`` (vPDQ …): the same per-bank indexes, over every banked video's frames
  (``haven.index.frames.FrameSetIndex``); each bank's frame-set rule (``haven.signals.frames``: its
  per-frame threshold and options) decides, and a match carries the percentages in ``detail``.
  Match calls refresh at most every ``auto_refresh`` seconds, so a hash added by any process is matched
  by every matcher within about that long.

A query may carry *variants* of its values (``haven.signals.Variant``): rotations are looked up beside
the value; *fallback* variants (a small image's PDQ as if upscaled) only when the signal's own value
matched nothing. Each entry is reported once, found by the value itself where it was, else at the
variant's smallest distance, with ``variant`` set.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from haven.banks.store import BankStore
from haven.banks.types import Entry, stored_variants
from haven.errors import NotFoundError, UsageError
from haven.hashing import HashResult, hash_file
from haven.index.frames import FrameSetIndex
from haven.matching.coverage import BankSearched, Coverage
from haven.matching.indexes import VARIANT_SLOTS, BankIndexes, Shard
from haven.matching.match import Match, sort_matches
from haven.signals import (
    FrameSetMatch,
    FrameSetSignal,
    HashOptions,
    LookupKind,
    SignalType,
    Variant,
    get_signal,
)

#: What a query image is hashed with by default (``haven match``, ``Matcher.match_file``; ``haven eval``
#: measures each step): its 8 rotations and flips, its value without borders, after equalisation and of
#: each half, and a small image's upscaled values as fallbacks.
QUERY_DEFAULTS = HashOptions(dihedral=True, upscaled=True, robust=True)
#: What a banked image stores beside its hash by default (``haven bank add``): crops, rotations, no borders,
#: equalised, tones, halves (``haven.hashing.variants``).
BANK_DEFAULTS = HashOptions(bank_variants=True)


class Hashed(Protocol):
    """What can be matched: values per signal and their variants (``HashResult``, triage's ``FileRow``)."""

    @property
    def hashes(self) -> Mapping[str, str]: ...

    @property
    def variants(self) -> Mapping[str, Sequence[Variant]]: ...


class Matcher:
    """Matches hashes against the enabled banks of a ``BankStore`` (see module docstring).

    ``index_dir``: where indexes are saved and mapped from (None: built from the database, never saved).
    ``banks``: only these banks are searched (triage's ``--banks``); every bank when None.
    ``shard``: ``(k, n)`` searches only shard k of n (``BankIndexes``): its in-memory indexes hold the
    entries whose id % n == k, and exact look-ups (the database's, never memory-bound) are made by shard 0
    alone, so the n shards' matches together are exactly one unsharded matcher's (``merge_shard_matches``).
    """

    def __init__(self, store: BankStore, *, index_dir: Path | None = None, auto_refresh: float | None = 0.5,
                 load_saved: bool = True, banks: Iterable[str] | None = None, shard: Shard | None = None
                 ) -> None:
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise UsageError(f"shard {shard[0]} of {shard[1]} does not exist")
        self.store = store
        self.auto_refresh = auto_refresh
        self.only = self._check_banks(banks)
        self.shard = shard
        self.indexes = BankIndexes(store, Path(index_dir) if index_dir is not None else None, shard)
        self.indexes.load(load_saved=load_saved)
        self._last_refresh = 0.0
        self._coverage: Coverage | None = None
        self.refresh()

    def _check_banks(self, banks: Iterable[str] | None) -> set[str] | None:
        if banks is None:
            return None
        names = set(banks)
        known = {b.name for b in self.store.list_banks()}
        missing = sorted(names - known)
        if missing:
            raise NotFoundError(f"no bank named {', '.join(map(repr, missing))}; banks: "
                                f"{', '.join(sorted(known)) or '(none)'}")
        return names

    # -- keeping in step ---------------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        return self.indexes.seq

    @property
    def loaded_from(self) -> str:
        return self.indexes.loaded_from

    def refresh(self) -> int:
        """Apply the database changes made since the last refresh; returns how many were applied."""
        applied = self.indexes.refresh()
        self._last_refresh = time.monotonic()
        return applied

    def _maybe_refresh(self) -> None:
        if self.auto_refresh is not None and time.monotonic() - self._last_refresh >= self.auto_refresh:
            self.refresh()

    def coverage(self, *, cached: bool = False) -> Coverage:
        """What a match searches now: the enabled banks (of those this matcher is limited to), their active
        entries per signal read from the database, and the change-log position this matcher is at.

        ``cached``: the last count, if there is one, even when the banks have changed since (no database
        read: what a request path on an event loop wants; a refresh thread keeps it current)."""
        if cached and self._coverage is not None:
            return self._coverage
        if self._coverage is not None and self._coverage.seq == self.seq:
            return self._coverage
        seq = self.seq
        banks = self.store.list_banks()
        counts = self.store.active_counts()
        wanted = [b for b in banks if self.only is None or b.name in self.only]
        self._coverage = Coverage(
            banks=tuple(BankSearched(b.name, counts.get(b.id, {})) for b in wanted if b.enabled),
            seq=seq,
            store_id=self.indexes.store_id,
            disabled=tuple(b.name for b in wanted if not b.enabled) if self.only is not None else (),
        )
        return self._coverage

    def save_index(self) -> Path:
        """Write the in-memory indexes and their manifest atomically; returns the manifest path."""
        return self.indexes.save()

    def stats(self) -> dict[str, Any]:
        """Indexed entries per bank and signal, and the change seq this matcher is at."""
        return self.indexes.stats()

    # -- one signal ----------------------------------------------------------------------------------------

    def match_many(self, signal: str, values: Sequence[str], *, threshold: int | None = None, threads: int = 1
                   ) -> list[list[Match]]:
        """Matches for each value of one signal, in input order (one look-up per bank for the batch;
        ``threshold`` overrides the banks' own for distance signals; ``threads`` splits a big batch)."""
        self._maybe_refresh()
        sig = get_signal(signal)
        if not values:
            return []
        if sig.lookup is LookupKind.EXACT:
            if self.shard is not None and self.shard[0] != 0:
                return [[] for _ in values]  # shard 0's look-up (see the class docstring)
            return self._exact(sig, values)
        if sig.lookup is LookupKind.DISTANCE:
            return self._by_distance(sig, values, threshold, threads)
        if sig.lookup is LookupKind.FRAMES:
            return self._by_frames(sig, values, threshold, threads)
        raise UsageError(f"signal {sig.name!r}: the Matcher has no look-up for {sig.lookup} signals")

    def _exact(self, sig: type[SignalType], values: Sequence[str]) -> list[list[Match]]:
        found = self.store.lookup_digests(sig.name, values)
        return [
            sort_matches(Match.from_entry(e, 0) for e in found.get(sig.validate(v), []) if self._wanted(e))
            for v in values
        ]

    def _by_distance(
        self, sig: type[SignalType], values: Sequence[str], threshold: int | None, threads: int
    ) -> list[list[Match]]:
        if threshold is not None and not 0 <= threshold <= sig.max_threshold:
            raise UsageError(f"{sig.name} threshold must be 0-{sig.max_threshold}, got {threshold}")
        hits: list[dict[int, int]] = [{} for _ in values]
        via: list[dict[int, tuple[int, int]]] = [{} for _ in values]  # entry → (distance, slot) by a variant
        for bank, index in self.indexes.targets(sig.name):
            if self.only is not None and bank.name not in self.only:
                continue
            t = bank.threshold(sig.name) if threshold is None else threshold
            counts, ids, dists = index.query_flat(values, t, threads=threads)
            rows = np.repeat(np.arange(len(values)), counts)  # one pass over the hits, not over every query
            for k, i, d in zip(rows.tolist(), ids.tolist(), dists.tolist(), strict=True):
                hits[k][i] = d
            stored = self.indexes.variant_index(bank.id, sig.name)
            if stored is None:
                continue
            counts, ids, dists = stored.query_flat(values, t, threads=threads)
            rows = np.repeat(np.arange(len(values)), counts)
            for k, i, d in zip(rows.tolist(), ids.tolist(), dists.tolist(), strict=True):
                entry, slot = divmod(i, VARIANT_SLOTS)
                if entry not in hits[k] and (entry not in via[k] or d < via[k][entry][0]):
                    via[k][entry] = (d, slot)
        entries = self._entries({i for h in hits for i in h} | {i for h in via for i in h})
        out = []
        for h, v in zip(hits, via, strict=True):
            found = [Match.from_entry(entries[i], d) for i, d in h.items() if i in entries]
            found += [Match.from_entry(entries[i], d, variant=_stored_variant(entries[i], slot))
                      for i, (d, slot) in v.items() if i in entries and i not in h]
            out.append(sort_matches(found))
        return out

    def _by_frames(
        self, sig: type[SignalType], values: Sequence[str], threshold: int | None, threads: int
    ) -> list[list[Match]]:
        if threshold is not None and not 0 <= threshold <= sig.max_threshold:
            raise UsageError(f"{sig.name} threshold must be 0-{sig.max_threshold}, got {threshold}")
        assert issubclass(sig, FrameSetSignal)
        hits: list[dict[int, FrameSetMatch]] = [{} for _ in values]
        for bank, index in self.indexes.targets(sig.name):
            if self.only is not None and bank.name not in self.only:
                continue
            t = bank.threshold(sig.name) if threshold is None else threshold
            rule = sig.frame_rule(t, bank.thresholds)
            for k, found in enumerate(cast(FrameSetIndex, index).match(values, rule, threads=threads)):
                hits[k].update(found)
        entries = self._entries({i for h in hits for i in h})
        return [
            sort_matches(Match.from_entry(entries[i], m.distance, detail=m.fields())
                         for i, m in h.items() if i in entries)
            for h in hits
        ]

    def _wanted(self, entry: Entry) -> bool:
        return self.only is None or entry.bank in self.only

    def _entries(self, ids: set[int]) -> dict[int, Entry]:
        """Current rows for hit ids; only entries that can match now (active, not disabled until later:
        ``Entry.matches_at``) of enabled banks (guards against refresh lag)."""
        if not ids:
            return {}
        enabled = self.indexes.enabled_bank_ids()
        now = time.time()
        return {
            e.id: e
            for e in self.store.get_entries(ids)
            if e.matches_at(now) and e.bank_id in enabled and self._wanted(e)
        }

    # -- whole queries -----------------------------------------------------------------------------------

    def match_hashes(self, hashes: Mapping[str, str | None], *, threshold: int | None = None,
                     coin: float | None = None) -> list[Match]:
        """Match ``{"pdq": hex, "md5": hex, …}``: each value by its signal's look-up; with ``coin``, only
        the banks that sample it (``sampled``)."""
        matches: list[Match] = []
        for signal, value in hashes.items():
            if value:
                matches.extend(self.match_many(signal, [value], threshold=threshold)[0])
        return sort_matches(self.sampled(matches, coin))

    def sampled(self, matches: Iterable[Match], coin: float | None) -> list[Match]:
        """The matches from banks whose ``enabled_ratio`` is at least ``coin`` (0-1), a look-up's draw: a bank
        at ratio 0.25 answers a quarter of sampled look-ups (HMA's ``matching_enabled_ratio``); every match
        when ``coin`` is None."""
        if coin is None:
            return list(matches)
        ratios = {b.name: b.enabled_ratio for b in list(self.indexes.banks.values())}  # a snapshot
        kept = []
        for m in matches:
            if m.bank not in ratios:  # a bank newer than the last refresh (its digests are already matched)
                try:
                    ratios[m.bank] = self.store.get_bank(m.bank).enabled_ratio
                except NotFoundError:
                    continue
            if ratios[m.bank] >= coin:
                kept.append(m)
        return kept

    def match_results(
        self, results: Sequence[Hashed], *, threshold: int | None = None, threads: int = 1
    ) -> list[list[Match]]:
        """Match many hashed inputs at once — each signal's values (and variants) in one batch — in order.

        Variants are looked up as the module docstring says; each entry is reported once per input."""
        per_input: list[dict[int, Match]] = [{} for _ in results]
        direct = self._lookup(
            results,
            threshold,
            threads,
            lambda r, s: (v for v in r.variants.get(s, ()) if not v.fallback and not v.stored),
            per_input,
        )
        # Fallbacks only for the (input, signal) pairs that nothing matched.
        self._lookup(
            results,
            threshold,
            threads,
            lambda r, s: (v for v in r.variants.get(s, ())
                          if v.fallback and not v.stored and (id(r), s) not in direct),
            per_input,
            main=False,
        )
        return [sort_matches(found.values()) for found in per_input]

    def _lookup(
        self,
        results: Sequence[Hashed],
        threshold: int | None,
        threads: int,
        variants: Any,
        per_input: list[dict[int, Match]],
        *,
        main: bool = True,
    ) -> set[tuple[int, str]]:
        """One batch per signal over ``results``' values (``main``) and the variants ``variants(r, s)``
        picks; merges what they find into ``per_input``; returns the (input, signal) pairs that matched."""
        wanted: dict[str, list[tuple[int, str, Variant | None]]] = {}
        for k, r in enumerate(results):
            for signal, value in r.hashes.items():
                if not value:
                    continue
                if main:
                    wanted.setdefault(signal, []).append((k, value, None))
                for v in variants(r, signal):
                    wanted.setdefault(signal, []).append((k, v.value, v))
        matched: set[tuple[int, str]] = set()
        for signal, queries in wanted.items():
            uniq = sorted({value for _, value, _ in queries})
            found = dict(
                zip(uniq, self.match_many(signal, uniq, threshold=threshold, threads=threads), strict=True)
            )
            for k, value, variant in queries:
                for m in found[value]:
                    self._keep(per_input[k], m if variant is None else replace(m, variant=variant))
                    matched.add((id(results[k]), signal))
        return matched

    @staticmethod
    def _keep(found: dict[int, Match], m: Match) -> None:
        """One report per entry: the match by the value itself, else the closest variant."""
        key = m.entry_id if m.entry_id is not None else -1
        cur = found.get(key)
        if cur is None or (m.variant is None, -m.distance) > (cur.variant is None, -cur.distance):
            found[key] = m

    def match_result(self, result: Hashed, *, threshold: int | None = None) -> list[Match]:
        """Match every value (and variant) one hashed input carries."""
        return self.match_results([result], threshold=threshold)[0]

    def match_file(
        self, path: str | Path, *, fast: bool = False, upscaled: bool = QUERY_DEFAULTS.upscaled,
        threshold: int | None = None, dihedral: bool = QUERY_DEFAULTS.dihedral,
        robust: bool = QUERY_DEFAULTS.robust,
    ) -> tuple[HashResult, list[Match]]:
        """Hash one file with every signal and match it (the query-side defaults: ``QUERY_DEFAULTS``);
        InputError if it cannot be hashed."""
        result = hash_file(path, fast=fast, upscaled=upscaled, dihedral=dihedral, robust=robust)
        return result, self.match_result(result, threshold=threshold)


def _stored_variant(entry: Entry, slot: int) -> Variant:
    """The stored variant in ``slot`` (1, 2 …) of ``entry`` (its ``extra``), as a ``Variant``."""
    items = list(stored_variants(entry.extra).items())
    label, value = items[slot - 1] if 0 < slot <= len(items) else ("stored:?", "")
    family, _, key = label.partition(":")
    return Variant(family, key, value, stored=True)


def merge_shard_matches(parts: Iterable[Sequence[Match]]) -> list[Match]:
    """One input's matches from every shard of a sharded search, as one unsharded ``Matcher`` reports them.

    Each shard applied the variant rules to its own entries; the one rule that spans shards is that a
    signal's *fallback* variants count only when nothing matched that signal by its value or a direct
    variant, in any shard. Shards hold disjoint entries, so nothing else needs merging."""
    every = [m for part in parts for m in part]
    direct = {m.signal for m in every if m.variant is None or not m.variant.fallback}
    return sort_matches(
        m for m in every if m.variant is None or not m.variant.fallback or m.signal not in direct
    )
