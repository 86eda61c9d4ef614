"""Test databases: an SQLite file, and a PostgreSQL database made for the run and dropped after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_service(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


def _postgres_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3, autocommit=True):
            return None
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh PostgreSQL database and yield its SQLAlchemy URL; drop it afterwards."""
    problem = _postgres_reachable()
    if problem:
        missing_service(problem)
    import psycopg

    name = f"consular_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    """Yield the URL of a new SQLite file database."""
    path = folder / f"consular-{uuid.uuid4().hex[:8]}.sqlite3"
    yield f"sqlite:///{path}"


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database of the given backend."""
    maker = postgres_database() if backend == "postgresql" else sqlite_database(folder)
    with maker as url:
        yield url
