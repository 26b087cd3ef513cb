"""The click command classes every ``haven`` command and group is built with (``use_haven_classes``).

Typer's plain help prints a required list argument as ``{paths}...`` with a ``<list[Path]>`` label,
cuts each command's description in a listing at 45 characters, and shows a default given as a word
(``show_default="auto"``) in parentheses. These classes print ``PATH...``, whole first paragraphs and
``[default: auto]``, and report Ctrl-C the same way for every command: one line saying that running
the same command again resumes (every long command is resumable or repeatable), exit 130.
"""

from __future__ import annotations

import inspect
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

_LIST_LABEL = re.compile(r"<list\[(\w+)\]>")
EXIT_INTERRUPTED = 130
INTERRUPTED = "interrupted — run the same command again to resume"


def first_paragraph(text: str | None) -> str:
    """A docstring's first paragraph on one line (the short help of a command listing)."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    return " ".join(paragraphs[0].split())


def argument_name(param: Any) -> str:
    """``PATH...``: the argument's metavar (else its name in capitals), with ``...`` when it takes many."""
    name = str(param.metavar or param.name.upper())
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name


def _help_records(cmd: Any, ctx: Any, formatter: Any) -> None:
    args, opts = [], []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        name, text = record
        if param.param_type_name == "argument":
            args.append((argument_name(param), text))
        elif param.param_type_name == "option":
            name = _LIST_LABEL.sub(r"<\1>", name)  # a repeatable option takes one value at a time
            shown = getattr(param, "show_default", None)
            if isinstance(shown, str):  # a default given as a word: "auto", not "(auto)"
                text = text.replace(f"default: ({shown})", f"default: {shown}")
            opts.append((name, text))
    if args:
        with formatter.section("Arguments"):
            formatter.write_dl(args)
    if opts:
        with formatter.section("Options"):
            formatter.write_dl(opts)


_CTRL_C = threading.Event()


def _on_ctrl_c(signum: int, frame: Any) -> None:
    _CTRL_C.set()
    raise KeyboardInterrupt


def check_interrupt() -> None:
    """Raise ``KeyboardInterrupt`` when Ctrl-C was pressed during this command. Long loops call it between
    items: Python drops an interrupt that lands in a finaliser (``Exception ignored in …``), and the run
    would otherwise go on to the end."""
    if _CTRL_C.is_set():
        raise KeyboardInterrupt


@contextmanager
def _ctrl_c_noted() -> Iterator[None]:
    """While a command runs (in the main thread), Ctrl-C is also noted for ``check_interrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _CTRL_C.clear()
    previous = signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted() -> typer.Exit:
    from haven.cli.common import stderr

    stderr.print(INTERRUPTED)
    return typer.Exit(EXIT_INTERRUPTED)


class HavenCommand(TyperCommand):
    """A ``haven`` command: ``PATH...`` usage lines, whole short help, Ctrl-C → exit 130 with a message."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _help_records(self, ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        return first_paragraph(self.short_help or self.help)

    def invoke(self, ctx: Any) -> Any:
        try:
            with _ctrl_c_noted():
                return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _interrupted() from None


class HavenGroup(TyperGroup):
    """A ``haven`` command group: its listing line is its whole first paragraph."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return first_paragraph(self.short_help or self.help)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _help_records(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _interrupted() from None


def use_haven_classes(app: typer.Typer) -> None:
    """Build every command and group registered under ``app`` (recursively) with the Haven classes."""
    if not isinstance(app.info.cls, type) or app.info.cls is TyperGroup:
        app.info.cls = HavenGroup
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = HavenCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_haven_classes(group.typer_instance)
