"""HTTP errors on the API: JSON bodies that keep the headers the error carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.exceptions import TooManyRequests


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        (30, "30"),
        (datetime(2026, 12, 1, 9, 30, tzinfo=UTC), "Tue, 01 Dec 2026 09:30:00 GMT"),
    ],
)
def test_a_429_on_the_api_tells_when_to_retry(app, retry_after, header) -> None:
    @app.route("/api/v1/test-busy")
    def busy() -> str:
        raise TooManyRequests(retry_after=retry_after)

    response = app.test_client().get("/api/v1/test-busy")
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limited"
    assert response.headers["Retry-After"] == header


def test_a_429_without_a_retry_time_sends_none(app) -> None:
    @app.route("/api/v1/test-busy")
    def busy() -> str:
        raise TooManyRequests()

    response = app.test_client().get("/api/v1/test-busy")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
