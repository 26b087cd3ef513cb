"""What the ``audit``, ``jobs``, ``rules``, ``vault`` and ``worker`` commands share: settings read once
from the environment, the database brought up to date, one engine."""

from __future__ import annotations

import functools

from sqlalchemy import Engine

from haven.config import Settings


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@functools.cache
def engine() -> Engine:
    """The database engine, after migrating the schema (the shell's job, not the core's)."""
    from haven.store.db import make_engine, upgrade_database

    url = settings().resolved_database_url
    upgrade_database(url)
    return make_engine(url)


@functools.cache
def runtime():  # type: ignore[no-untyped-def]
    """Rules, job queue, review queue and vault, as ``haven serve`` builds them."""
    from haven.actions.runtime import RuntimeSettings, build_runtime

    return build_runtime(settings(), engine(), RuntimeSettings.from_env(settings()))


def actor() -> str:
    """Who a CLI change is recorded as: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
