"""``haven eval``'s outputs: the table a person reads, the goals check and the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haven.eval.methods import METHODS
from haven.eval.run import EvalResult
from haven.eval.transforms import PHOTOMETRIC

#: The issue's goals: (transforms, least recall), and the most false-match rate allowed.
GOALS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("crop_5",), 0.90),
    (("pad_20_black", "pad_20_white", "pad_20_blur"), 0.90),
    (("rotate_4", "rotate_-4"), 0.80),
    (PHOTOMETRIC, 0.98),
)
MAX_FALSE_MATCH_RATE = 1e-4
BASELINE = METHODS[0].name  # plain PDQ
PLOTTED = ("pdq", "pdq+dihedral", "pdq+upscaled", "haven")


def defaults() -> dict[str, Any]:
    """Which improvements ``haven match`` and ``haven bank add`` apply by default."""
    from haven.hashing import variants
    from haven.matching.matcher import BANK_DEFAULTS, QUERY_DEFAULTS

    return {
        "haven match": {"dihedral": QUERY_DEFAULTS.dihedral, "upscaled": QUERY_DEFAULTS.upscaled,
                        "robust": QUERY_DEFAULTS.robust},
        "haven bank add": {"variants": BANK_DEFAULTS.bank_variants, "crops": list(variants.CROPS),
                           "rotations": list(variants.ROTATIONS),
                           "rotations cut": list(variants.ROTATE_CROPS), "gammas": list(variants.TONES),
                           "no borders": True, "equalised": True,
                           "halves": [h[0] for h in variants.HALVES]},
    }


def goal_lines(result: EvalResult, method: str = "haven") -> list[str]:
    """One line per goal: met or not, with the numbers."""
    lines = []
    names = {r.transform for r in result.rows}
    for transforms, least in GOALS:
        for t in transforms:
            if t not in names:
                continue
            r = result.row(method, t)
            base = result.row(BASELINE, t).recall if any(x.method == BASELINE for x in result.rows) else None
            ok = "met " if r.recall >= least else "MISS"
            was = f" ({BASELINE} {100 * base:.1f} %)" if base is not None else ""
            lines.append(f"  {ok} {t}: {method} {100 * r.recall:.1f} % ≥ {100 * least:.0f} %?{was}")
    false, pairs = result.overall_fmr(method)
    rate = false / pairs if pairs else 0.0
    ok = "met " if rate <= MAX_FALSE_MATCH_RATE else "MISS"
    lines.append(f"  {ok} false-match rate: {method} {false}/{pairs:,} = {rate:.2e} "
                 f"≤ {MAX_FALSE_MATCH_RATE:.0e}?")
    return lines


def text_table(result: EvalResult) -> str:
    """Recall (%) per transform (rows) and method (columns); a ``*`` marks a transform with false matches."""
    methods = list(dict.fromkeys(r.method for r in result.rows))
    transforms = list(dict.fromkeys(r.transform for r in result.rows))
    width = max(len(t) for t in transforms) + 2
    cols = [max(len(m), 6) + 2 for m in methods]
    size = f", reduced to {result.max_side} px" if result.max_side else ""
    out = [f"recall at PDQ distance ≤ {result.threshold} over {len(result.photos)} photos{size} "
           f"(* = false matches on that row)",
           "transform".ljust(width) + "".join(m.rjust(c) for m, c in zip(methods, cols, strict=True))]
    for t in transforms:
        cells = []
        for m, c in zip(methods, cols, strict=True):
            r = result.row(m, t)
            cells.append((f"{100 * r.recall:.1f}" + ("*" if r.false_pairs else " ")).rjust(c))
        out.append(t.ljust(width) + "".join(cells))
    out.append("")
    out.append("false matches over all rows (pairs of different photos), and what each method costs")
    out.append(f"{'method':16}{'false':>7}{'pairs':>11}{'rate':>10}{'values/entry':>14}{'values/query':>14}"
               f"{'query ms':>10}{'entry ms':>10}{'lookup µs':>11}")
    for cost in result.costs:
        false, pairs = result.overall_fmr(cost.method)
        out.append(f"{cost.method:16}{false:>7}{pairs:>11,}{false / pairs if pairs else 0:>10.1e}"
                   f"{cost.values_per_entry:>14.2f}{cost.values_per_query:>14.2f}"
                   f"{cost.hash_ms_per_query:>10.1f}{cost.hash_ms_per_entry:>10.1f}"
                   f"{cost.lookup_us_per_query:>11.1f}")
    if any(r.method == "haven" for r in result.rows):
        out += ["", "goals (haven's defaults against plain PDQ, same run):", *goal_lines(result)]
    out += ["", "defaults on: " + "; ".join(
        f"{shell}: " + ", ".join(f"{k}={v}" for k, v in opts.items()) for shell, opts in defaults().items())]
    return "\n".join(out)


def plot(result: EvalResult, path: Path) -> None:
    """Grouped horizontal bars: recall per transform for the plotted methods (``PLOTTED``)."""
    try:
        import matplotlib
    except ImportError as exc:
        from haven.errors import UsageError

        raise UsageError("--plot needs matplotlib: pip install 'haven[eval]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in PLOTTED if any(r.method == m for r in result.rows)] or \
        list(dict.fromkeys(r.method for r in result.rows))
    transforms = list(dict.fromkeys(r.transform for r in result.rows))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(transforms) * max(1, len(methods) / 3) + 1.5))
    h = 0.8 / len(methods)
    for k, m in enumerate(methods):
        ys = [i + k * h for i in range(len(transforms))]
        ax.barh(ys, [100 * result.row(m, t).recall for t in transforms], height=h, label=m)
    ax.set_yticks([i + 0.4 - h / 2 for i in range(len(transforms))], transforms, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"recall (%) at PDQ distance ≤ {result.threshold}")
    ax.set_title(f"haven eval: {len(result.photos)} photos")
    ax.axvline(90, color="grey", lw=0.6, ls="--")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
