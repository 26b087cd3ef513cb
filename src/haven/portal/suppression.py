"""Small-cell suppression for count tables, with complementary suppression so that no hidden count can be
worked out from the totals.

A table (groups × answers) is published with its row totals, column totals and grand total; every total is
the sum of its line. Seen as a graph whose nodes are the lines (each row, the totals row, each column, the
totals column) and whose edges are the published numbers, a hidden number can be derived exactly when its
edge is a *bridge* of the graph of hidden edges: cutting it splits the lines into two sides, and summing the
relations of one side isolates it. A hidden number that lies on a cycle of hidden numbers can move up on one
side of the cycle and down on the other without changing any total. So:

1. primary: hide every number from 1 to k-1, and every number in a line whose total is below k;
2. complementary, until nothing changes: a line with exactly one hidden number hides its smallest other
   number; a hidden number that is a bridge gets a partner across the cut (the smallest number joining the
   two sides), which closes a cycle through it.

Zeros are shown (they are not small cells) unless chosen as a complement. ``tests/portal/test_suppression.py``
checks the result with a linear program: every hidden number can take at least two values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Node = tuple[str, int]  # ("r", i) or ("c", j); index -1 is the totals line
Edge = tuple[int, int]  # (row index, column index); -1 is the total


@dataclass
class SuppressedTable:
    rows: list[str]
    cols: list[str]
    values: dict[Edge, int]
    primary: set[Edge] = field(default_factory=set)
    secondary: set[Edge] = field(default_factory=set)
    k: int = 5

    def hidden(self, i: int, j: int) -> bool:
        return (i, j) in self.primary or (i, j) in self.secondary

    def shown(self, i: int, j: int) -> int | None:
        """The published number, or None where it is hidden (``-1`` indexes the totals)."""
        return None if self.hidden(i, j) else self.values[(i, j)]

    def label(self, i: int, j: int) -> str:
        if (i, j) in self.primary:
            return f"<{self.k}"
        if (i, j) in self.secondary:
            return "x"
        return str(self.values[(i, j)])


def _node_edges(n_rows: int, n_cols: int, node: Node) -> list[Edge]:
    kind, idx = node
    if kind == "r":
        return [(idx, j) for j in [*range(n_cols), -1]]
    return [(i, idx) for i in [*range(n_rows), -1]]


def _ends(edge: Edge) -> tuple[Node, Node]:
    return ("r", edge[0]), ("c", edge[1])


def suppress(rows: list[str], cols: list[str], cells: list[list[int]], k: int = 5) -> SuppressedTable:
    """Hide small counts in ``cells`` (rows × cols) and enough others that none can be derived."""
    n, m = len(rows), len(cols)
    values: dict[Edge, int] = {}
    for i in range(n):
        for j in range(m):
            values[(i, j)] = int(cells[i][j])
        values[(i, -1)] = sum(int(c) for c in cells[i])
    for j in range(m):
        values[(-1, j)] = sum(int(cells[i][j]) for i in range(n))
    values[(-1, -1)] = sum(values[(i, -1)] for i in range(n))
    table = SuppressedTable(rows, cols, values, k=k)

    for edge, v in values.items():
        if 0 < v < k:
            table.primary.add(edge)
    for i in range(n):  # a group smaller than k is hidden whole
        if 0 < values[(i, -1)] < k:
            table.primary.update((i, j) for j in range(m))
    for j in range(m):
        if 0 < values[(-1, j)] < k:
            table.primary.update((i, j) for i in range(n))
    _complement(table, n, m)
    return table


def _cost(table: SuppressedTable, edge: Edge) -> tuple[bool, bool, int]:
    # Prefer hiding a small positive inner cell; zeros and totals only when nothing else will do.
    v = table.values[edge]
    return v == 0, -1 in edge, v


def _complement(table: SuppressedTable, n: int, m: int) -> None:
    nodes: list[Node] = [*(("r", i) for i in [*range(n), -1]), *(("c", j) for j in [*range(m), -1])]
    changed = True
    while changed:
        changed = False
        for node in nodes:
            edges = _node_edges(n, m, node)
            hidden = [e for e in edges if table.hidden(*e)]
            if len(hidden) == 1:
                candidates = [e for e in edges if not table.hidden(*e)]
                if candidates:
                    table.secondary.add(min(candidates, key=lambda e: _cost(table, e)))
                    changed = True
        if changed:
            continue
        bridge = _find_bridge(table)
        if bridge is not None:
            side = _component(table, _ends(bridge)[0], without=bridge)
            candidates = [
                e
                for e in table.values
                if not table.hidden(*e) and e != bridge and ((_ends(e)[0] in side) != (_ends(e)[1] in side))
            ]
            table.secondary.add(min(candidates, key=lambda e: _cost(table, e)))
            changed = True


def _hidden_edges(table: SuppressedTable) -> list[Edge]:
    return sorted(table.primary | table.secondary)


def _component(table: SuppressedTable, start: Node, *, without: Edge | None = None) -> set[Node]:
    adjacency: dict[Node, list[Node]] = {}
    for e in _hidden_edges(table):
        if e == without:
            continue
        a, b = _ends(e)
        adjacency.setdefault(a, []).append(b)
        adjacency.setdefault(b, []).append(a)
    seen, todo = {start}, [start]
    while todo:
        for nxt in adjacency.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _find_bridge(table: SuppressedTable) -> Edge | None:
    for e in _hidden_edges(table):
        a, b = _ends(e)
        if b not in _component(table, a, without=e):
            return e
    return None
