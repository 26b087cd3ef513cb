"""Database layer shared by every domain: engine, declarative Base, migrations."""

from haven.store.db import Base, make_engine, make_session_factory, upgrade_database

__all__ = ["Base", "make_engine", "make_session_factory", "upgrade_database"]
