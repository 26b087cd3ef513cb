"""Small-cell suppression: no number under k is shown, and no hidden number can be worked out from what is
shown (checked with a linear program over every table the published numbers allow)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from haven.portal.suppression import SuppressedTable, suppress


def feasible_range(t: SuppressedTable, target: tuple[int, int]) -> tuple[float, float]:
    """Smallest and largest value the hidden ``target`` can take in any non-negative table that agrees with
    every published number and every total relation."""
    n, m = len(t.rows), len(t.cols)
    edges = sorted(t.values)
    index = {e: x for x, e in enumerate(edges)}
    eq_rows, eq_rhs = [], []

    def relation(total: tuple[int, int], parts: list[tuple[int, int]]) -> None:
        row = np.zeros(len(edges))
        row[index[total]] = 1
        for p in parts:
            row[index[p]] -= 1
        eq_rows.append(row)
        eq_rhs.append(0)

    for i in range(n):
        relation((i, -1), [(i, j) for j in range(m)])
    for j in range(m):
        relation((-1, j), [(i, j) for i in range(n)])
    relation((-1, -1), [(i, -1) for i in range(n)])
    relation((-1, -1), [(-1, j) for j in range(m)])
    for e in edges:
        if not t.hidden(*e):
            row = np.zeros(len(edges))
            row[index[e]] = 1
            eq_rows.append(row)
            eq_rhs.append(t.values[e])
    c = np.zeros(len(edges))
    c[index[target]] = 1
    bounds = [(0, None)] * len(edges)
    lo = linprog(c, A_eq=np.array(eq_rows), b_eq=np.array(eq_rhs), bounds=bounds, method="highs")
    hi = linprog(-c, A_eq=np.array(eq_rows), b_eq=np.array(eq_rhs), bounds=bounds, method="highs")
    assert lo.status == 0 and hi.status in (0, 3)  # 3: unbounded above, which protects too
    return float(lo.fun), float("inf") if hi.status == 3 else float(-hi.fun)


def assert_protected(t: SuppressedTable) -> None:
    for e, v in t.values.items():
        if not t.hidden(*e):
            assert not 0 < v < t.k, f"{e} = {v} is shown"
    for e in t.primary | t.secondary:
        if t.values[e] == 0:
            continue  # zeros may be shown (below): working one out discloses nothing a table may not say
        lo, hi = feasible_range(t, e)
        assert hi - lo >= 1 - 1e-9, f"hidden {e} = {t.values[e]} is pinned to [{lo}, {hi}]"


def test_a_three_respondent_country_is_hidden_and_cannot_be_derived() -> None:
    t = suppress(["GB", "FR", "KE"], ["yes", "no", "unsure"], [[10, 7, 6], [2, 1, 0], [8, 9, 5]])
    assert [t.shown(1, j) for j in (0, 1, 2, -1)] == [None, None, None, None]
    assert t.shown(-1, -1) == 48  # the grand total still shows …
    assert t.shown(2, -1) is None  # … so another country's total is hidden with FR's
    assert_protected(t)


def test_one_small_cell_in_a_row_gets_a_partner() -> None:
    t = suppress(["A", "B"], ["x", "y", "z"], [[20, 3, 30], [25, 26, 27]])
    assert t.label(0, 1) == "<5"
    assert sum(t.hidden(0, j) for j in range(3)) >= 2
    assert_protected(t)


def test_a_hidden_zero_may_be_worked_out_but_no_small_count_can() -> None:
    """Found by the property test below: when a small row is hidden whole, its zeros can be pinned by the
    totals (they sum to 0); the 1s and 3s beside them still cannot be."""
    t = suppress(["A", "B", "C"], ["w", "x", "y", "z"], [[10, 3, 20, 20], [0, 0, 1, 3], [5, 0, 1, 3]])
    assert feasible_range(t, (1, 1)) == (0.0, 0.0)
    assert_protected(t)


def test_nothing_hidden_when_all_counts_are_large_or_zero() -> None:
    t = suppress(["A", "B"], ["x", "y"], [[20, 0], [25, 30]])
    assert not t.primary and not t.secondary


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.integers(1, 5).flatmap(
            lambda m: st.lists(st.lists(st.integers(0, 30), min_size=m, max_size=m), min_size=n, max_size=n)
        )
    )
)
def test_random_tables_are_protected(cells: list[list[int]]) -> None:
    t = suppress([f"r{i}" for i in range(len(cells))], [f"c{j}" for j in range(len(cells[0]))], cells)
    assert_protected(t)


@pytest.mark.parametrize("k", [3, 5, 10])
def test_threshold_is_respected(k: int) -> None:
    t = suppress(["A", "B", "C"], ["x", "y"], [[k - 1, 40], [k, 41], [50, 1]], k=k)
    assert (0, 0) in t.primary and (1, 0) not in t.primary
    assert_protected(t)
