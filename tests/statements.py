"""Counting the SQL statements a piece of work sends, for tests that keep the count fixed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from consular.extensions import db


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The statements sent meanwhile (SQLite's BEGIN IMMEDIATE, which reads nothing, left out)."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
