"""The dashboard's numbers: counts per UTC day over a window — items sent to review by bank and category,
decisions by kind, the false-positive rate per bank, report drafts and filed reports, and the age of what
is waiting in each queue. Also as CSV rows and Prometheus text.

Every number is a plain count of rows (``review_queue``, ``review_decisions``, ``reports``), so a test can
check each against its own query.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haven.actions.models import ReviewItem
from haven.banks.types import utc
from haven.review.models import DecisionRow


@dataclass
class Stats:
    days: list[str]
    since: datetime
    matches: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (day, bank, category)
    decisions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (day, decision)
    per_bank: dict[str, dict[str, int]] = field(default_factory=dict)  # bank -> confirm / false_positive
    reports: Counter[str] = field(default_factory=Counter)  # state -> count (drafted by the console)
    reports_filed: Counter[str] = field(default_factory=Counter)  # day -> reports finished
    queues: dict[str, dict[str, float]] = field(default_factory=dict)  # queue -> pending, oldest_s, median_s

    def fp_rate(self, bank: str) -> float | None:
        c = self.per_bank.get(bank, {})
        total = c.get("confirm", 0) + c.get("false_positive", 0)
        return c.get("false_positive", 0) / total if total else None

    def daily(self, counter: Counter[Any], key: Any = None) -> list[int]:
        """Per day of the window: the counts of ``counter`` (keyed by day, or by (day, key))."""
        if key is None:
            return [counter.get(d, 0) for d in self.days]
        return [counter.get((d, key), 0) for d in self.days]

    def bank_categories(self) -> list[tuple[str, str, int]]:
        totals: Counter[tuple[str, str]] = Counter()
        for (_, bank, cat), n in self.matches.items():
            totals[(bank, cat)] += n
        return [(b, c, n) for (b, c), n in sorted(totals.items())]

    def decision_totals(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (_, d), n in self.decisions.items():
            out[d] += n
        return dict(out)


def compute(s: Session, now: datetime, days: int = 30) -> Stats:
    """The numbers for the ``days`` UTC days up to ``now``."""
    start = (now.astimezone(UTC) - timedelta(days=days - 1)).date()
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    st = Stats(days=[(start + timedelta(days=i)).isoformat() for i in range(days)], since=since)
    for enq, payload in s.execute(
        select(ReviewItem.enqueued_at, ReviewItem.payload).where(ReviewItem.enqueued_at >= since)
    ):
        day = utc(enq).date().isoformat()
        pairs = {
            (str(m.get("bank") or "?"), str(m.get("category") or "none"))
            for m in (payload or {}).get("matches") or []
        }
        for bank, cat in pairs:
            st.matches[(day, bank, cat)] += 1
    for at, decision, banks in s.execute(
        select(DecisionRow.at, DecisionRow.decision, DecisionRow.banks).where(DecisionRow.at >= since)
    ):
        st.decisions[(utc(at).date().isoformat(), decision)] += 1
        if decision in ("confirm", "false_positive"):
            for bank in banks or []:
                st.per_bank.setdefault(bank, {"confirm": 0, "false_positive": 0})[decision] += 1
    try:
        from haven.reporting.models import Report

        for state, source, updated in s.execute(select(Report.state, Report.source, Report.updated_at)):
            if str(source).startswith("review:"):
                st.reports[state] += 1
            if state == "finished" and updated is not None and utc(updated) >= since:
                st.reports_filed[utc(updated).date().isoformat()] += 1
    except ImportError:  # reporting not in this build
        pass
    waiting: dict[str, list[float]] = {}
    for queue, enq in s.execute(
        select(ReviewItem.queue, ReviewItem.enqueued_at).where(ReviewItem.state == "pending")
    ):
        waiting.setdefault(queue, []).append((now - utc(enq)).total_seconds())
    st.queues = {
        q: {"pending": len(a), "oldest_seconds": max(a), "median_seconds": median(a)}
        for q, a in sorted(waiting.items())
    }
    return st


def to_csv(st: Stats) -> str:
    """One row per number: ``metric,day,label,value`` (day empty for totals)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["metric", "day", "label", "value"])
    for (day, bank, cat), n in sorted(st.matches.items()):
        w.writerow(["matches", day, f"{bank}/{cat}", n])
    for (day, d), n in sorted(st.decisions.items()):
        w.writerow(["decisions", day, d, n])
    for bank in sorted(st.per_bank):
        c = st.per_bank[bank]
        w.writerow(["confirmed", "", bank, c["confirm"]])
        w.writerow(["false_positives", "", bank, c["false_positive"]])
        rate = st.fp_rate(bank)
        w.writerow(["false_positive_rate", "", bank, "" if rate is None else f"{rate:.4f}"])
    for state, n in sorted(st.reports.items()):
        w.writerow(["review_reports", "", state, n])
    for day, n in sorted(st.reports_filed.items()):
        w.writerow(["reports_filed", day, "", n])
    for q, a in st.queues.items():
        w.writerow(["queue_pending", "", q, a["pending"]])
        w.writerow(["queue_oldest_seconds", "", q, int(a["oldest_seconds"])])
        w.writerow(["queue_median_seconds", "", q, int(a["median_seconds"])])
    return out.getvalue()


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_prometheus(st: Stats) -> str:
    """The window's totals as Prometheus gauges (text exposition format 0.0.4)."""
    lines: list[str] = []

    def family(name: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            text = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")

    window = f"over the last {len(st.days)} days"
    family(
        "haven_review_matches",
        f"Items sent to review by bank and category, {window}",
        [({"bank": b, "category": c}, n) for b, c, n in st.bank_categories()],
    )
    family(
        "haven_review_decisions",
        f"Review decisions by kind, {window}",
        [({"decision": d}, n) for d, n in sorted(st.decision_totals().items())],
    )
    family(
        "haven_review_false_positive_rate",
        f"False positives over confirmed plus false positives, {window}",
        [({"bank": b}, r) for b in sorted(st.per_bank) if (r := st.fp_rate(b)) is not None],
    )
    family(
        "haven_review_reports",
        "CyberTipline reports drafted from the review console, by state",
        [({"state": k}, n) for k, n in sorted(st.reports.items())],
    )
    family(
        "haven_review_queue_pending",
        "Items waiting in each review queue",
        [({"queue": q}, a["pending"]) for q, a in st.queues.items()],
    )
    family(
        "haven_review_queue_oldest_seconds",
        "Age of the oldest waiting item in each review queue",
        [({"queue": q}, round(a["oldest_seconds"])) for q, a in st.queues.items()],
    )
    return "\n".join(lines) + "\n"


def svg_bars(values: list[int], labels: list[str], *, title: str, width: int = 640, height: int = 120) -> str:
    """A small server-drawn bar chart (inline SVG: no script, nothing fetched); every bar has a title
    with its day and count."""
    from markupsafe import escape

    n = max(len(values), 1)
    top = max(values + [1])
    bw = width / n
    bars = []
    for i, (v, lab) in enumerate(zip(values, labels, strict=True)):
        h = (height - 20) * v / top
        bars.append(
            f'<rect x="{i * bw + 1:.1f}" y="{height - 14 - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}"><title>{escape(lab)}: {v}</title></rect>'
        )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f'<text x="0" y="10">{escape(title)} (max {top})</text>{"".join(bars)}'
        f'<text x="0" y="{height - 2}">{escape(labels[0] if labels else "")}</text>'
        f'<text x="{width}" y="{height - 2}" text-anchor="end">{escape(labels[-1] if labels else "")}</text>'
        "</svg>"
    )
