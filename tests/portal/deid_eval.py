"""Score the de-identification check on the invented corpus: recall per kind, kinds, false positives."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from deid_corpus import Doc, corpus

from haven.portal import deid

#: A planted identifier counts as flagged when findings cover this share of its characters.
COVER = 0.8


@dataclass
class Score:
    planted: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    right_kind: Counter[str] = field(default_factory=Counter)
    names_by_pool: Counter[str] = field(default_factory=Counter)
    names_flagged_by_pool: Counter[str] = field(default_factory=Counter)
    findings: int = 0
    false_positives: list[str] = field(default_factory=list)
    missed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    words: int = 0
    docs: int = 0

    def recall(self, kind: str) -> float:
        return self.flagged[kind] / self.planted[kind]

    @property
    def total_planted(self) -> int:
        return sum(self.planted.values())


def score(docs: list[Doc]) -> Score:
    s = Score()
    for doc in docs:
        s.docs += 1
        s.words += len(doc.text.split())
        found = deid.check(doc.text)
        s.findings += len(found)
        for p in doc.planted:
            covered = sum(max(0, min(p.end, f.end) - max(p.start, f.start)) for f in found)
            s.planted[p.kind] += 1
            if p.kind == "name":
                s.names_by_pool[p.pool] += 1
            if covered >= COVER * (p.end - p.start):
                s.flagged[p.kind] += 1
                if p.kind == "name":
                    s.names_flagged_by_pool[p.pool] += 1
                best = max(found, key=lambda f: min(p.end, f.end) - max(p.start, f.start))
                if best.kind == p.kind:
                    s.right_kind[p.kind] += 1
            else:
                s.missed[p.kind].append(p.text)
        for f in found:
            if not any(f.start < p.end and p.start < f.end for p in doc.planted):
                s.false_positives.append(f"{f.kind}:{f.text!r} ({f.source})")
    return s


def report(s: Score) -> str:
    lines = [
        f"{s.docs} texts, {s.words:,} words, {s.total_planted} planted identifiers, {s.findings} findings",
        "| kind | planted | flagged | recall | flagged as this kind |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in deid.KINDS:
        if s.planted[kind]:
            lines.append(
                f"| {kind} | {s.planted[kind]} | {s.flagged[kind]} | {100 * s.recall(kind):.1f} % | "
                f"{100 * s.right_kind[kind] / s.planted[kind]:.1f} % |"
            )
    total_flagged = sum(s.flagged.values())
    lines.append(
        f"| all | {s.total_planted} | {total_flagged} | {100 * total_flagged / s.total_planted:.1f} % | |"
    )
    for pool in ("gazetteer", "held_out"):
        lines.append(f"names from {pool} locales: {s.names_flagged_by_pool[pool]}/{s.names_by_pool[pool]}")
    fp = len(s.false_positives)
    lines.append(
        f"false positives: {fp} of {s.findings} findings ({100 * fp / s.findings:.1f} %), "
        f"{1000 * fp / s.words:.1f} per 1,000 words"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    result = score(corpus())
    print(report(result))
    for kind, texts in result.missed.items():
        print("MISSED", kind, texts[:30])
    print("FP", result.false_positives[:80])
