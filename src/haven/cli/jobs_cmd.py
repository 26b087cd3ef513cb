"""``haven worker`` (run queued jobs) and ``haven jobs dead|retry|pending``."""

from __future__ import annotations

import signal
import threading

import typer
from rich.table import Table

from haven.cli import shell_db
from haven.cli.common import emit_json, stdout

jobs_app = typer.Typer(help="The job queue: pending jobs and the dead-letter list.", no_args_is_help=True)


def worker_command(
    threads: int = typer.Option(
        None, "--threads", help="Jobs run at once (default HAVEN_WORKER_THREADS, 2)."
    ),
) -> None:
    """Run queued jobs (actions, the retention purge, audit anchors) until stopped (Ctrl-C or SIGTERM)."""
    rt = shell_db.runtime()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = rt.worker(threads)
    with worker:
        stdout.print(
            f"job worker {worker.id}: {rt.queue.backend} broker, queue {rt.queue.queue_name!r}, "
            f"{threads or rt.action_settings.worker_threads} threads; Ctrl-C to stop"
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    stdout.print("stopped")


@jobs_app.command("dead")
def dead_command(
    json_out: bool = typer.Option(False, "--json", help="One JSON object per dead letter."),
) -> None:
    """Jobs that failed every try, with their last error."""
    letters = shell_db.runtime().queue.dead_letters()
    if json_out:
        for d in letters:
            emit_json(d.to_dict())
        return
    table = Table("id", "job", "args", "tries", "error", box=None, pad_edge=False)
    for d in letters:
        table.add_row(str(d.id), d.job, str(d.args), str(d.tries), d.last_error_line)
    stdout.print(table)


@jobs_app.command("retry")
def retry_command(dead_id: int = typer.Argument(..., help="The dead letter's id (haven jobs dead).")) -> None:
    """Queue a dead-lettered job again, with a fresh set of tries."""
    message_id = shell_db.runtime().retry_dead(dead_id, actor=shell_db.actor())
    stdout.print(f"dead letter {dead_id} queued again as {message_id}")


@jobs_app.command("pending")
def pending_command() -> None:
    """How many jobs wait or run (database broker)."""
    n = shell_db.runtime().queue.pending()
    stdout.print("unknown (ask the broker)" if n is None else str(n))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.add_typer(jobs_app, name="jobs")
