"""Helpers every subcommand shares: settings (read once), the store and matcher, consoles, JSON lines,
progress bars."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from haven.config import Settings

if TYPE_CHECKING:
    from haven.banks import BankStore
    from haven.matching import Matcher

# Piped output keeps full hashes and paths on one line instead of folding to 80 columns.
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
stderr = Console(stderr=True, highlight=False)


def write_line(text: str, bar: Progress | None = None) -> None:
    """One line of results on stdout, flushed, while ``bar`` (if any) runs on stderr: printed above the bar
    when both go to the same terminal, else straight to stdout (a pipe or a file gets only the lines)."""
    if bar is not None and bar.live.is_started and bar.console.is_terminal and sys.stdout.isatty():
        bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit_json(obj: Any, bar: Progress | None = None) -> None:
    """One JSON object on one line of stdout, flushed (other tools read these as they come)."""
    write_line(json.dumps(obj, separators=(", ", ": "), ensure_ascii=False), bar)


class StreamTable:
    """A table printed a row at a time, as results come, instead of all at the end of a long run.

    Column widths are fixed up front from what is known before the first result (the paths, each
    signal's value length); a cell wider than its column pushes the rest of its row out, never cut."""

    def __init__(self, columns: list[tuple[str, int]], bar: Progress | None = None) -> None:
        self.widths = [max(w, len(name)) for name, w in columns]
        self.bar = bar
        self.rows = 0
        self._write([name for name, _ in columns])

    def _write(self, cells: list[str]) -> None:
        # Pad every cell but the last; a short row (an error's) leaves the later columns out.
        widths = self.widths[: len(cells) - 1] + [0]
        text = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        write_line(text.rstrip(), self.bar)

    def row(self, *cells: object) -> None:
        self.rows += 1
        self._write(["" if c is None else str(c) for c in cells])


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Catch Ctrl-C as a flag the work checks at a safe point (between records, outside a database
    transaction) instead of an exception anywhere; a second Ctrl-C stops at once."""
    pressed = False

    def handler(signum: int, frame: object) -> None:
        nonlocal pressed
        if pressed:
            raise KeyboardInterrupt
        pressed = True

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_bar(*, enabled: bool, unit: str = "count") -> Progress:
    """A progress bar on stderr with count, rate and ETA; invisible when ``enabled`` is False. ``unit``
    ``"bytes"`` shows one unit throughout: bytes done of the total, and bytes per second.

    Results go through ``write_line`` (not a redirected ``sys.stdout``: with stdout piped and stderr a
    terminal, the redirect would send them to stderr)."""
    counts = (
        (DownloadColumn(), TransferSpeedColumn())
        if unit == "bytes"
        else (MofNCompleteColumn(), TextColumn("{task.fields[rate]}"))
    )
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        *counts,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=stderr,
        disable=not enabled,
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )


_settings: Settings | None = None


def load_settings() -> Settings:
    """Read the settings from the environment: once per invocation, by the root command."""
    global _settings
    _settings = Settings.from_env()
    return _settings


def settings() -> Settings:
    """This invocation's settings (every subcommand uses these, never the environment directly)."""
    return _settings if _settings is not None else load_settings()


def open_store(url: str | None = None) -> BankStore:
    """The bank store of the configured database (or ``url``), brought to the current schema first:
    the CLI is the shell, so it migrates; core objects never do."""
    from haven.banks import BankStore
    from haven.store.db import upgrade_database

    url = url or settings().resolved_database_url
    upgrade_database(url)
    return BankStore(url)


def open_matcher(store: BankStore, *, banks: Iterable[str] | None = None, load_saved: bool = True) -> Matcher:
    """A ``Matcher`` over ``store`` with the configured index folder, refreshed only when asked."""
    from haven.matching import Matcher

    return Matcher(store, index_dir=settings().data_dir / "index", auto_refresh=None, load_saved=load_saved,
                   banks=banks)


def with_signal_options(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command one repeatable ``--<signal> VALUE`` option per registered signal (plugins too).

    The command receives them as one keyword argument, ``signal_values: {signal: [values]}`` (only the
    signals given). ``help_text`` is formatted with ``{name}`` and ``{description}``."""
    from haven.signals import all_signals

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        names = [s.name for s in all_signals()]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            values = {n: list(kwargs.pop(n) or []) for n in names}
            return fn(*args, signal_values={n: v for n, v in values.items() if v}, **kwargs)

        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "signal_values"]
        extra = [
            inspect.Parameter(
                s.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=list[str],
                default=typer.Option(None, f"--{s.name}", metavar="VALUE",
                                     help=help_text.format(name=s.name, description=s.description)),
            )
            for s in all_signals()
        ]
        wrapper.__signature__ = inspect.Signature([*params, *extra])  # type: ignore[attr-defined]
        return wrapper

    return decorate


def shown_path(path: str | Path) -> str:
    """``path`` as a person should see it: relative to the current folder when it is inside it or next to it
    (output that is copied into docs or tickets never carries the machine's own folders)."""
    p = Path(path)
    here = Path.cwd().resolve()
    try:
        return str(p.resolve().relative_to(here)) or "."
    except ValueError:
        pass
    # A neighbour of the current folder (../shared/…) reads well too; anything further away is shown as
    # given (``../../tmp/x`` would depend on where the checkout lies).
    rel = os.path.relpath(p.resolve(), here)
    return rel if rel.split(os.sep)[:2].count("..") <= 1 else str(path)


def command_hint(*args: str) -> str:
    """A ``haven …`` command line that works when pasted: the program as it was invoked (``.venv/bin/haven``
    when that is how ``make run`` started it) and the data folder when it is not the default."""
    prog = Path(sys.argv[0]).name if sys.argv else "haven"
    if prog != "haven" or shutil.which("haven") == str(Path(sys.argv[0]).resolve()):
        exe = "haven"
    else:
        exe = shown_path(sys.argv[0])
    env = ""
    data_dir = os.environ.get("HAVEN_DATA_DIR")
    if data_dir:
        env = f"HAVEN_DATA_DIR={shlex.quote(shown_path(data_dir))} "
    return env + " ".join([exe, *(shlex.quote(a) for a in args)])
