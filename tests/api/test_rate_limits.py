"""Rate limits on booking, kept in Redis so that every process and host shares them."""

from __future__ import annotations

import pytest

from consular import create_app
from consular.extensions import db
from tests.conftest import DEFAULT_NOW, Clock, base_config
from tests.databases import REDIS_URL, missing_service


def _empty_test_redis() -> None:
    """Empty the Redis database kept for tests (number 15), or skip/fail if there is none."""
    try:
        import redis

        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as connection:
            connection.flushdb()
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        missing_service(f"Redis is not reachable at {REDIS_URL}: {error}")


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_too_many_bookings_from_one_address_get_429_json(database_url, storage) -> None:
    if storage == "redis":
        _empty_test_redis()
        uri = REDIS_URL
    else:
        uri = "memory://"
    config = base_config(database_url, Clock(DEFAULT_NOW)) | {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": uri,
        "BOOKING_RATE_LIMIT": "3 per minute",
    }
    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        answers = [
            client.post("/api/v1/appointments", json={}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
            for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [422, 422, 422, 429]
        assert answers[-1].get_json()["error"] == "rate_limited"
        other = client.post(
            "/api/v1/appointments", json={}, environ_base={"REMOTE_ADDR": "10.0.0.2"}
        )
        assert other.status_code == 422  # another address has its own budget
        if storage == "redis":
            second_process = create_app(config)  # a second app shares the Redis counters
            with second_process.app_context():
                shared = second_process.test_client().post(
                    "/api/v1/appointments", json={}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
                )
                assert shared.status_code == 429
                db.session.remove()
                db.engine.dispose()
        db.session.remove()
        db.engine.dispose()
