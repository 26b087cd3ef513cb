"""Charts drawn on the server as small SVG documents (no script, no external library): grouped bars for a
suppressed survey table, lines for a case's trajectory. Hidden counts are drawn as hatched stubs labelled
with their mark, so a reader sees that something is there without seeing how much."""

from __future__ import annotations

from html import escape
from typing import Any

from haven.portal.suppression import SuppressedTable

PALETTE = (
    "#3b6ea5",
    "#d17a22",
    "#4f9a5d",
    "#a5443b",
    "#7a5aa5",
    "#8a8a3b",
    "#3b9a9a",
    "#a53b7a",
    "#555555",
    "#b8860b",
    "#2f4f4f",
)
_HATCH = (
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eee"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="2"/></pattern></defs>'
)


def bars(table: SuppressedTable, *, title: str = "", height: int = 260) -> str:
    """Grouped bars: one group per row of ``table`` (a country, a profession), one bar per answer."""
    n, m = len(table.rows), len(table.cols)
    shown = [table.shown(i, j) for i in range(n) for j in range(m)]
    top = max([v for v in shown if v is not None] + [table.k, 1])
    bar, gap, left, bottom = 18, 22, 40, 40
    width = left + max(1, n) * (m * bar + gap) + 10
    plot_h = height - bottom - 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height + 20 * m}" '
        f'viewBox="0 0 {width} {height + 20 * m}" font-family="sans-serif" font-size="11">',
        _HATCH,
        f"<title>{escape(title)}</title>",
    ]
    base = height - bottom
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - 5}" y2="{base}" stroke="#333"/>')
    for tick in (0, top // 2, top):
        y = base - plot_h * tick / top
        out.append(f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end">{tick}</text>')
    for i, row in enumerate(table.rows):
        x0 = left + i * (m * bar + gap) + gap / 2
        for j in range(m):
            value = table.shown(i, j)
            x = x0 + j * bar
            if value is None:
                h = plot_h * 0.12
                out.append(
                    f'<rect class="hidden-cell" x="{x:.0f}" y="{base - h:.0f}" width="{bar - 2}" '
                    f'height="{h:.0f}" '
                    f'fill="url(#hatch)" stroke="#999"><title>{escape(row)}, {escape(table.cols[j])}: '
                    f"hidden ({escape(table.label(i, j))})</title></rect>"
                )
                out.append(
                    f'<text x="{x + bar / 2 - 1:.0f}" y="{base - h - 3:.0f}" text-anchor="middle" '
                    f'font-size="9">{escape(table.label(i, j))}</text>'
                )
            else:
                h = plot_h * value / top
                out.append(
                    f'<rect x="{x:.0f}" y="{base - h:.0f}" width="{bar - 2}" height="{h:.0f}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(row)}, {escape(table.cols[j])}: '
                    f"{value}</title></rect>"
                )
        out.append(
            f'<text x="{x0 + m * bar / 2:.0f}" y="{base + 16}" text-anchor="middle">{escape(row)}</text>'
        )
    for j, col in enumerate(table.cols):
        y = height + 20 * j - 8
        out.append(
            f'<rect x="{left}" y="{y - 9}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{left + 14}" y="{y}">{escape(col)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def trajectory(
    points: list[tuple[int, dict[str, Any]]],
    domain_titles: dict[str, str],
    *,
    scale_max: dict[str, int],
    width: int = 560,
    height: int = 260,
) -> str:
    """One line per domain over the weeks of a case; y is the share of the domain's maximum score."""
    left, right, top_pad, bottom = 40, 150, 15, 30
    weeks = [w for w, _ in points] or [0]
    w0, w1 = min(weeks), max(*weeks, min(weeks) + 1)
    plot_w, plot_h = width - left - right, height - top_pad - bottom

    def sx(week: int) -> float:
        return left + plot_w * (week - w0) / (w1 - w0)

    def sy(value: float, domain: str) -> float:
        return top_pad + plot_h * (1 - value / max(1, scale_max[domain]))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11"><title>trajectory</title>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" '
        'stroke="#333"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#333"/>',
        f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">max</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end">0</text>',
    ]
    for w in sorted(set(weeks)):
        out.append(f'<text x="{sx(w):.0f}" y="{height - 10}" text-anchor="middle">wk {w}</text>')
    for k, (domain, title) in enumerate(domain_titles.items()):
        colour = PALETTE[k % len(PALETTE)]
        coords = [(sx(w), sy(s["domains"][domain], domain)) for w, s in points if domain in s["domains"]]
        if coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(
                f'<polyline class="domain-line" points="{path}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in coords)
        out.append(
            f'<rect x="{left + plot_w + 12}" y="{top_pad + 16 * k}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 26}" y="{top_pad + 16 * k + 9}">{escape(title)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
