"""Helpers every subcommand shares: settings (read once), the store and matcher, consoles, JSON lines,
progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from haven.config import Settings

if TYPE_CHECKING:
    from haven.banks import BankStore
    from haven.matching import Matcher

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
