"""The --fast path (JPEG draft decoding) stays close to the exact hash."""

from __future__ import annotations

import statistics

from haven.hashing import hash_file
from haven_testdata import PHOTOS


def test_fast_path_deviation_is_small() -> None:
    # The accuracy goal, on every JPEG of the shared photos (PNG etc. are decoded exactly).
    jpegs = sorted(PHOTOS.glob("*.jpg"))
    deviations = []
    for path in jpegs:
        exact = hash_file(path, ("pdq",)).get("pdq")
        fast = hash_file(path, ("pdq",), fast=True).get("pdq")
        assert exact and fast
        deviations.append((int(exact, 16) ^ int(fast, 16)).bit_count())
    deviations.sort()
    assert statistics.fmean(deviations) <= 4
    assert deviations[int(0.99 * (len(deviations) - 1))] <= 16
    assert deviations[-1] <= 31  # never leaves the match threshold


def test_fast_path_is_exact_for_non_jpeg() -> None:
    for path in sorted(PHOTOS.glob("*.png"))[:5]:
        assert hash_file(path, ("pdq",), fast=True).get("pdq") == hash_file(path, ("pdq",)).get("pdq")
