"""Helpers every subcommand shares: consoles, JSON lines, progress bars."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# Piped output keeps full hashes and paths on one line instead of folding to 80 columns.
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
stderr = Console(stderr=True, highlight=False)


def emit_json(obj: Any) -> None:
    """One JSON object on one line of stdout, flushed (other tools read these as they come)."""
    sys.stdout.write(json.dumps(obj, separators=(", ", ": "), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def progress_bar(*, enabled: bool) -> Progress:
    """A progress bar on stderr with count, rate and ETA; invisible when ``enabled`` is False."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=stderr,
        disable=not enabled,
        transient=False,
    )
