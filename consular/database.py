"""The session type services accept, the count of rows an UPDATE changed, and engine
settings that make SQLite safe for concurrent writers."""

from __future__ import annotations

import sqlite3
from typing import Any, TypeAlias

import flask_sqlalchemy.session
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

from consular.extensions import db

# Services take a plain Session (scripts, tests) or the request-scoped `db.session` proxy,
# which forwards every method with the same signature but is no Session subclass.
SessionLike: TypeAlias = Session | scoped_session[flask_sqlalchemy.session.Session]


def rows_changed(result: sa.Result[Any]) -> int:
    """Return how many rows the UPDATE or DELETE that produced this result matched."""
    # Session.execute is typed to return a Result; for DML it is a CursorResult, which
    # alone has rowcount. Anything else is a programming error, not a row count of 0.
    if not isinstance(result, sa.CursorResult):
        raise TypeError(f"expected the result of an UPDATE or DELETE, got {type(result)!r}")
    return result.rowcount


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event open the transaction, so it can be BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        # Taking the write lock at the start means two writers queue on busy_timeout
        # instead of failing with "database is locked" when a reader tries to upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def with_connect_timeout(config: dict[str, Any]) -> None:
    """Give PostgreSQL connections a connect timeout (DATABASE_CONNECT_TIMEOUT): without one,
    a database host that no longer answers keeps a worker, or a readiness check, waiting for
    minutes instead of answering 503 at once."""
    if not str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        return
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("connect_timeout", int(config.get("DATABASE_CONNECT_TIMEOUT", 3)))
    options["connect_args"] = connect_args
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def init_database(app: Flask) -> None:
    """Apply per-dialect engine settings once the engine exists."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
