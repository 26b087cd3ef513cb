"""``haven eval``: how well matching survives crops, borders, rotations and recompression, measured on a
folder of photos for every method in the same run (``haven.eval``)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from haven.cli.common import emit_json, stderr, stdout
from haven.errors import UsageError

DEFAULT_PHOTOS = Path("shared/data/photos")


def eval_command(
    photos: Path = typer.Option(
        None, "--photos", help=f"Folder of photos (default: {DEFAULT_PHOTOS} here or in a parent folder)."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole result as one JSON object."),
    plot: Path = typer.Option(None, "--plot", help="Write a bar chart of recall per transform (PNG)."),
    save: Path = typer.Option(None, "--save", help="Also write the JSON object to this file."),
    limit: int = typer.Option(None, "--limit", min=2, help="Use N photos spread over the folder."),
    methods: str = typer.Option(None, "--methods", help="Comma-separated methods (default: all)."),
    transforms: str = typer.Option(None, "--transforms", help="Comma-separated transforms (default: all)."),
    threshold: int = typer.Option(31, "--threshold", "-t", min=0, max=128, help="PDQ distance threshold."),
    max_side: int = typer.Option(
        1024, "--max-side", min=0, help="Reduce larger photos to this longest side first (0: as they are)."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Threads (auto: one per core).", show_default="auto"),
) -> None:
    """Measure matching robustness: recall per transform and method, and the false-match rate.

    Each photo is banked (with the values each method stores), each transform of each photo is looked
    up through the exact Hamming index; recall is the share of transformed photos that find their own
    original, the false-match rate the share of pairs of different photos that match. The table ends
    with the issue's goals for Haven's defaults and which defaults `haven match` and `haven bank add`
    use. Exit 0 (a measurement, not a test).
    """
    from haven.eval import METHODS, TRANSFORMS, photo_files, run_eval
    from haven.eval.report import defaults, text_table
    from haven.eval.report import plot as draw

    folder = photos if photos is not None else _find_default()
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of photos")
    files = photo_files(folder, limit)
    if len(files) < 2:
        raise UsageError(f"{folder}: {len(files)} photos found; eval needs at least 2")
    chosen_m = _pick(methods, {m.name: m for m in METHODS}, "method")
    chosen_t = _pick(transforms, {t.name: t for t in TRANSFORMS}, "transform")

    def progress(done: int, total: int) -> None:
        if not json_out and (done == total or done % 10 == 0):
            stderr.print(f"hashed {done}/{total} photos", markup=False)

    result = run_eval(files, methods=chosen_m, transforms=chosen_t, threshold=threshold,
                      jobs=jobs or os.cpu_count() or 1, progress=progress, max_side=max_side or None)
    result.defaults = defaults()
    if plot is not None:
        draw(result, plot)
    if save is not None:
        import json

        save.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    if json_out:
        emit_json(result.to_dict())
    else:
        stdout.print(text_table(result), markup=False, highlight=False, soft_wrap=True)
        stdout.print(f"\n{len(files)} photos, {result.seconds:.0f} s", markup=False)
        if plot is not None:
            stdout.print(f"plot: {plot}", markup=False)


def _find_default() -> Path:
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_PHOTOS).is_dir():
            return folder / DEFAULT_PHOTOS
    raise UsageError(f"no {DEFAULT_PHOTOS} folder here or above; give --photos DIR")


def _pick(spec: str | None, known: dict, what: str) -> list:  # type: ignore[type-arg]
    if not spec:
        return list(known.values())
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown {what}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return [known[n] for n in names]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("eval")(eval_command)
