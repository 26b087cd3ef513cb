"""What the routes call: the bank store, this worker's matcher kept fresh by a refresh thread, and
the hashing of uploads — no web imports, so the same object is usable from a script or a test.

Hot updates: a daemon thread calls ``Matcher.refresh()`` every ``refresh_interval`` seconds, which
applies the bank change log written by any process (API worker or CLI). With the default 0.25 s a
hash added anywhere is matched by every worker well within one second, with no restart or rebuild.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

from haven.errors import NotReadyError
from haven.hashing import HashResult
from haven.matching.coverage import Coverage
from haven.service import metrics
from haven.service.settings import ServiceSettings
from haven.signals import signal_names

log = logging.getLogger("haven.service")
COUNT_INTERVAL = 5.0  # seconds between recounts of the banks' entries while they change


#: PDQ queries up to this radius run on the event loop (on 1M stored hashes: ~70 µs at 31, ~2 ms at 64).
INLINE_THRESHOLD_MAX = 31


class MatchBackend:
    """One per worker process: ``start()`` loads the index in the background; ``ready`` says when done."""

    def __init__(self, settings: ServiceSettings) -> None:
        from haven.banks import BankStore
        from haven.matching import Matcher

        self.settings = settings
        self.store = BankStore(settings.database_url)  # create_app or the serve parent migrated
        self._matcher_cls = Matcher
        self.matcher: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.load_error: str | None = None
        self.last_refresh = 0.0
        self._counted = 0.0  # monotonic time of the last count of the banks' entries (``coverage``)

    @property
    def ready(self) -> bool:
        return self.matcher is not None

    def start(self) -> None:
        """Load the index and keep refreshing it, in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="haven-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing and release the database connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

    def _run(self) -> None:
        try:
            started = time.perf_counter()
            # The Matcher is thread-safe; this thread refreshes it, so requests never pay for a refresh.
            matcher = self._matcher_cls(self.store, index_dir=self.settings.base.data_dir / "index",
                                        auto_refresh=None)
            matcher.coverage()  # the first count, before any request asks what is searched
            self._counted = time.monotonic()
            self.matcher = matcher
            self.last_refresh = time.monotonic()
            metrics.READY.set(1)
            log.info("index loaded in %.1f s", time.perf_counter() - started)
        except Exception as exc:  # reported by /readyz, the worker stays up
            self.load_error = f"{exc.__class__.__name__}: {exc}"
            log.exception("index load failed")
            return
        while not self._stop.wait(self.settings.refresh_interval):
            try:
                self.refresh()
            except Exception:  # a transient database error must not kill hot updates
                log.exception("index refresh failed; retrying")

    def refresh(self) -> int:
        """Apply bank changes now (also called by the refresh thread)."""
        matcher = self._require()
        changed = int(matcher.refresh() or 0)
        self.last_refresh = time.monotonic()
        if changed:
            metrics.REFRESHES.inc()
            metrics.REFRESH_CHANGES.inc(changed)
        # Recount the banks' entries when they changed, at most every COUNT_INTERVAL seconds (a grouped
        # count over the entries table; a bulk import moves the change log many times a second).
        stale = matcher.coverage(cached=True).seq != matcher.seq
        if stale and self.last_refresh - self._counted >= COUNT_INTERVAL:
            matcher.coverage()
            self._counted = self.last_refresh
        return changed

    def coverage(self) -> Coverage:
        """What a match searches now, as last counted (no database read: safe on the event loop)."""
        return cast(Coverage, self._require().coverage(cached=True))

    def _require(self) -> Any:
        if self.matcher is None:
            raise NotReadyError(self.load_error or "the index is still loading; retry shortly")
        return self.matcher

    def cheap(self, threshold: int | None) -> bool:
        """Whether a PDQ query at ``threshold`` (None: each bank's own) is cheap enough to run on the event
        loop: up to the default 31 it takes well under a millisecond, less than a hop to a thread; larger
        radii cost milliseconds (``INLINE_THRESHOLD_MAX``)."""
        if threshold is not None:
            return threshold <= INLINE_THRESHOLD_MAX
        matcher = self.matcher
        banks = list(matcher.indexes.banks.values()) if matcher is not None else []
        return all(b.threshold("pdq") <= INLINE_THRESHOLD_MAX for b in banks)

    def match_hashes(self, hashes: Mapping[str, str], threshold: int | None = None,
                     coin: float | None = None) -> list[Any]:
        """Bank hits for ``{signal: value}`` (``coin``: a sampled look-up's draw, ``Matcher.sampled``)."""
        matcher = self._require()
        return list(matcher.match_hashes(hashes, threshold=threshold, coin=coin))

    def match_result(self, result: HashResult, threshold: int | None = None) -> list[Any]:
        """Bank hits for a hashed upload."""
        matcher = self._require()
        return list(matcher.match_result(result, threshold=threshold))


def match_payload(
    hashes: Mapping[str, Any], matches: list[Any], limit: int, coverage: Coverage
) -> dict[str, Any]:
    """The response object: the hash fields, then the nearest ``limit`` of ``matches`` (sorted by the
    matcher) as ``haven match --json`` prints them, whether more were found, and ``searched``: how many
    banks and entries (of the query's signals) were searched, at which change."""
    out = {k: v for k, v in hashes.items() if v is not None}
    out["matched"] = bool(matches)
    out["matches"] = [m.to_dict() for m in matches[:limit]]
    out["limit_reached"] = len(matches) > limit
    out["searched"] = coverage.summary(s for s in hashes if s in signal_names())
    return out

