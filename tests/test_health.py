"""/healthz and /readyz: what a load balancer asks before sending citizens to this instance
(issue 14). Readiness is a 200 only when the database answers, its schema is at the
migrations' head and Redis answers where it is configured; anything else is a 503 that names
the check, never a 500 and never a connection string."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask

from bench.server import free_port
from consular.database import with_connect_timeout
from consular.extensions import db
from consular.observability import health
from tests.databases import REDIS_URL, missing_service

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@pytest.fixture
def stamp(app: Flask) -> Iterator[Callable[[str], None]]:
    """Write a revision in alembic_version, as `flask db upgrade` would (the test databases
    are made from the models); the table is dropped after the test."""

    def write(revision: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(
                sa.text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32))")
            )
            connection.execute(sa.text("DELETE FROM alembic_version"))
            connection.execute(
                sa.text("INSERT INTO alembic_version VALUES (:revision)"), {"revision": revision}
            )

    yield write
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def head() -> str:
    (revision,) = ScriptDirectory(str(MIGRATIONS)).get_heads()
    return revision


def test_ready_when_the_schema_is_at_the_head(client, stamp) -> None:
    stamp(head())
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert "Retry-After" not in response.headers


def test_not_ready_while_migrations_are_behind(client, stamp) -> None:
    previous = ScriptDirectory(str(MIGRATIONS)).get_revision(head()).down_revision
    assert isinstance(previous, str)
    stamp(previous)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["migrations"]
    assert body["checks"] == {"database": "ok", "migrations": "behind"}
    assert response.headers["Retry-After"] == str(health.RETRY_AFTER_SECONDS)
    assert response.headers["Cache-Control"] == "no-store"


def test_not_ready_on_a_database_never_migrated(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"] == "behind"


def test_a_dead_database_is_a_503_without_its_address(app_with) -> None:
    port = free_port()
    url = f"postgresql+psycopg://consular:secret-password@127.0.0.1:{port}/consular"
    app = app_with(url)
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["database", "migrations"]
    assert body["checks"] == {"database": "unreachable", "migrations": "unknown"}
    text = response.get_data(as_text=True)
    assert str(port) not in text and "secret-password" not in text and "127.0.0.1" not in text
    assert response.headers["Retry-After"] == str(health.RETRY_AFTER_SECONDS)
    # The process itself is alive: /healthz does not touch the database.
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.get_json() == {"status": "ok"}
    assert alive.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in alive.headers


def test_redis_configured_but_down_is_a_503(app_with, database_url, stamp) -> None:
    stamp(head())
    down = f"redis://127.0.0.1:{free_port()}/0"
    app = app_with(database_url, AVAILABILITY_CACHE_URL=down, STAFF_PAGE_CACHE_URL=down)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"] == "unreachable"
    assert body["checks"]["redis_settings"] == "AVAILABILITY_CACHE_URL STAFF_PAGE_CACHE_URL"
    assert str(down) not in response.get_data(as_text=True)


def test_redis_that_answers_is_ready(app_with, database_url, stamp) -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as error:
        missing_service(f"Redis is not reachable at {REDIS_URL}: {error}")
    stamp(head())
    app = app_with(database_url, AVAILABILITY_CACHE_URL=REDIS_URL)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}


def test_a_check_that_breaks_is_a_503_not_a_500(client, stamp, monkeypatch) -> None:
    stamp(head())

    def broken(_directory: str) -> frozenset[str]:
        raise RuntimeError("the migrations folder is not there")

    monkeypatch.setattr(health, "migration_heads", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"] == "unreadable"


def test_probes_are_never_rate_limited(app_with, database_url) -> None:
    app = app_with(
        database_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_DEFAULT="2 per minute",
    )
    client = app.test_client()
    # The yardstick: the same default limit refuses the third ping.
    assert [client.get("/__ping").status_code for _ in range(3)] == [200, 200, 429]
    assert {client.get("/healthz").status_code for _ in range(5)} == {200}
    assert 429 not in {client.get("/readyz").status_code for _ in range(5)}


def test_the_connect_timeout_is_set_for_postgresql_only() -> None:
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://127.0.0.1/x",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "DATABASE_CONNECT_TIMEOUT": 3,
    }
    with_connect_timeout(config)
    assert config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_pre_ping": True,
        "connect_args": {"connect_timeout": 3},
    }
    sqlite: dict[str, Any] = {"SQLALCHEMY_DATABASE_URI": "sqlite://", "X": 1}
    with_connect_timeout(sqlite)
    assert "SQLALCHEMY_ENGINE_OPTIONS" not in sqlite
