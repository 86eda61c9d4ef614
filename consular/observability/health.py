"""Health checks for a load balancer: /healthz (the process answers) and /readyz (it can
serve: the database answers, its schema is at the migrations' head, Redis answers where it
is configured).

Both are cheap, unauthenticated, never cached, free of rate limits and CSRF, and never a
500: a check that fails for any reason is a 503 naming the check, never its error (which
could quote a connection string).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask, Response, current_app, jsonify

from consular.extensions import db

# How long one check may take, in seconds: the load balancer's own timeout is a few seconds.
CHECK_TIMEOUT = 2
# What a 503 tells the load balancer (and a person with curl) to wait before asking again.
RETRY_AFTER_SECONDS = 10
# The settings that may name a Redis server the app needs.
REDIS_SETTINGS = ("RATELIMIT_STORAGE_URI", "AVAILABILITY_CACHE_URL", "STAFF_PAGE_CACHE_URL")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+unix://")


@cache
def migration_heads(directory: str) -> frozenset[str]:
    """The head revisions of the migrations in `directory`, read once per process."""
    return frozenset(ScriptDirectory(directory).get_heads())


def redis_urls(config: dict[str, Any]) -> dict[str, str]:
    """The Redis URL of each setting that names one, by setting."""
    return {
        name: str(config.get(name) or "")
        for name in REDIS_SETTINGS
        if str(config.get(name) or "").startswith(REDIS_SCHEMES)
    }


def _redis_client(url: str) -> Any:
    import redis

    url = url.replace("redis+unix://", "unix://", 1)
    return redis.Redis.from_url(
        url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )


def check_database() -> dict[str, str]:
    """The database's answer to SELECT 1, and whether its schema is at the migrations' head."""
    migrations = current_app.extensions["migrate"].directory
    try:
        heads = migration_heads(migrations)
    except Exception:  # noqa: BLE001 - a broken migrations folder: this deploy is not ready
        current_app.logger.exception("readiness: the migrations can't be read")
        heads = None
    try:
        with db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {CHECK_TIMEOUT * 1000}")
            connection.execute(sa.text("SELECT 1"))
            try:
                applied = frozenset(
                    connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                    .scalars()
                    .all()
                )
            except sa.exc.DBAPIError:
                applied = frozenset()
    except Exception:  # noqa: BLE001 - unreachable, refused, timed out: all the same here
        current_app.logger.warning("readiness: the database did not answer", exc_info=True)
        return {"database": "unreachable", "migrations": "unknown"}
    if heads is None:
        return {"database": "ok", "migrations": "unreadable"}
    return {"database": "ok", "migrations": "ok" if applied == heads else "behind"}


def check_redis(app: Flask) -> dict[str, str]:
    """A PING to each Redis server the settings name; nothing when none does."""
    clients: dict[str, Any] = app.extensions["consular.health_redis"]
    if not clients:
        return {}
    down = []
    for name, client in clients.items():
        try:
            client.ping()
        except Exception:  # noqa: BLE001 - refused, timed out, wrong password: all down
            current_app.logger.warning("readiness: Redis (%s) did not answer", name)
            down.append(name)
    return {"redis": "ok" if not down else "unreachable"} | (
        {"redis_settings": " ".join(down)} if down else {}
    )


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def healthz() -> Response:
    """The process answers (nothing else is checked: a dead database is /readyz's concern)."""
    return _no_store(jsonify(status="ok"))


def readyz() -> Response:
    """Whether this instance can serve requests: 200 with each check, or 503 naming the
    checks that failed."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    checks: dict[str, str] = {}
    for check in _checks(app):
        try:
            checks |= check()
        except Exception:  # noqa: BLE001 - a check that breaks is a check that failed
            app.logger.exception("readiness: a check failed unexpectedly")
            checks["internal"] = "failed"
    failed = [name for name, value in checks.items() if value != "ok" and name != "redis_settings"]
    if not failed:
        return _no_store(jsonify(status="ready", checks=checks))
    response = jsonify(status="unavailable", failed=failed, checks=checks)
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return _no_store(response)


def _checks(app: Flask) -> list[Callable[[], dict[str, str]]]:
    return [check_database, lambda: check_redis(app)]


def init_app(app: Flask) -> None:
    """Register /healthz and /readyz, free of rate limits and CSRF."""
    from consular.extensions import csrf, limiter

    app.extensions["consular.health_redis"] = {
        name: _redis_client(url) for name, url in redis_urls(app.config).items()
    }
    for rule, view in (("/healthz", healthz), ("/readyz", readyz)):
        app.add_url_rule(rule, view.__name__, limiter.exempt(csrf.exempt(view)))
