"""The ``haven`` command: builds the Typer app from the subcommand modules and maps errors to exit codes.

Exit codes: 0 ok; 1 a match was found (``match``/``triage`` where it applies); 2 usage or input
error; 3 any other Haven error (storage, remote service …); 130 interrupted.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from haven.cli.commands import EXIT_INTERRUPTED, INTERRUPTED, use_haven_classes
from haven.errors import HavenError, InputError, NotFoundError, UsageError

EXIT_OK, EXIT_MATCH, EXIT_INPUT, EXIT_FAILURE = 0, 1, 2, 3

# Class → exit code; the first class in the error's MRO that is listed wins.
EXIT_CODES: dict[type[HavenError], int] = {
    UsageError: EXIT_INPUT,
    InputError: EXIT_INPUT,
    NotFoundError: EXIT_INPUT,
    HavenError: EXIT_FAILURE,
}

# Each module defines ``register(app: typer.Typer, bench: typer.Typer)``.
SUBCOMMAND_MODULES = [
    "haven.cli.hash_cmd",
    "haven.cli.index_cmd",
    "haven.cli.bank_cmd",
    "haven.cli.match_cmd",
    "haven.cli.serve_cmd",
    "haven.cli.users_cmd",
    "haven.cli.portal_cmd",
    "haven.cli.triage_cmd",
    "haven.cli.report_cmd",
    "haven.cli.audit_cmd",
    "haven.cli.rules_cmd",
    "haven.cli.jobs_cmd",
    "haven.cli.vault_cmd",
    "haven.cli.secrets_cmd",
    "haven.cli.spark_cmd",
    "haven.cli.exchange_cmd",
    "haven.cli.eval_cmd",
]

app = typer.Typer(
    name="haven",
    help="Haven: hash, match, triage and report known abuse material — from discovery to recovery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
bench_app = typer.Typer(
    help="Benchmarks that run Haven and its peers on the same data in the same run and print the ratios.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


def _print_version(value: bool) -> None:
    """``haven --version``: an eager option, so it answers before a subcommand is asked for."""
    if value:
        from haven import __version__

        typer.echo(f"haven {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print Haven's version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    from haven.cli.common import load_settings

    load_settings()  # the one read of the environment for this invocation


for _name in SUBCOMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a subcommand whose module is not written yet
        if exc.name != _name:
            raise
        continue
    _module.register(app, bench_app)
use_haven_classes(app)


def exit_code_for(exc: HavenError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_FAILURE


def main() -> None:
    try:
        app()
    except HavenError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:  # outside a command (while the app is built)
        Console(stderr=True).print(INTERRUPTED)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
