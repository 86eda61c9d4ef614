"""Budgets shared by the pages and the API, per address and per network, and what a forged
X-Forwarded-For can't do behind a trusted proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from consular import create_app
from consular.extensions import db
from tests.conftest import DEFAULT_NOW, Clock, base_config


@pytest.fixture
def limited(database_url) -> Iterator[Flask]:
    config = base_config(database_url, Clock(DEFAULT_NOW)) | {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "BOOKING_RATE_LIMIT": "3 per minute",
        "BOOKING_NETWORK_RATE_LIMIT": "5 per minute",
        "AVAILABILITY_RATE_LIMIT": "4 per minute",
        "AVAILABILITY_NETWORK_RATE_LIMIT": "6 per minute",
    }
    app = create_app(config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def api_hold(client, address: str, **headers: str):
    return client.post(
        "/api/v1/appointments", json={}, environ_base={"REMOTE_ADDR": address}, headers=headers
    )


def page_hold(client, address: str):
    return client.post("/book/nowhere/hold", data={}, environ_base={"REMOTE_ADDR": address})


def test_holds_through_the_page_and_the_api_share_one_budget(limited) -> None:
    client = limited.test_client()
    answers = [
        api_hold(client, "198.51.100.1"),
        page_hold(client, "198.51.100.1"),
        api_hold(client, "198.51.100.1"),
        page_hold(client, "198.51.100.1"),
    ]
    assert 429 not in [a.status_code for a in answers[:3]]
    assert answers[3].status_code == 429
    assert api_hold(client, "198.51.100.1").get_json()["error"] == "rate_limited"


def test_lottery_and_waiting_list_entries_share_the_holds_budget_of_the_network(limited) -> None:
    client = limited.test_client()

    def post(path: str, n: int) -> int:
        return client.post(
            path, data={}, environ_base={"REMOTE_ADDR": f"203.0.113.{n}"}
        ).status_code

    statuses = [
        api_hold(client, "203.0.113.1").status_code,
        post("/lottery/1/enter", 2),
        post("/waitlist/join/nowhere", 3),
        post("/lottery/1/enter", 4),
        post("/waitlist/join/nowhere", 5),
        post("/waitlist/join/nowhere", 6),
    ]
    assert 429 not in statuses[:5] and statuses[5] == 429
    # Their form pages are not counted.
    view = client.get("/waitlist/join/nowhere", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert view.status_code == 404


def test_addresses_of_one_network_share_its_budget(limited) -> None:
    client = limited.test_client()
    statuses = [api_hold(client, f"203.0.113.{n}").status_code for n in range(1, 8)]
    assert statuses == [422] * 5 + [429] * 2
    assert api_hold(client, "203.0.114.1").status_code == 422  # the next /24 is another network


def test_an_ipv6_subscriber_is_one_network(limited) -> None:
    client = limited.test_client()
    statuses = [api_hold(client, f"2001:db8:7:1::{n:x}").status_code for n in range(1, 8)]
    assert statuses == [422] * 5 + [429] * 2
    assert api_hold(client, "2001:db8:7:2::1").status_code == 422


def test_looking_at_free_times_is_limited_through_both_doors(limited) -> None:
    client = limited.test_client()
    address = {"REMOTE_ADDR": "192.0.2.10"}
    answers = [
        client.get("/api/v1/offices/nowhere/availability?services=x", environ_base=address),
        client.get("/book/nowhere/time?services=x", environ_base=address),
        client.get("/api/v1/offices/nowhere/availability?services=x", environ_base=address),
        client.get("/book/nowhere/time?services=x", environ_base=address),
        client.get("/api/v1/offices/nowhere/availability?services=x", environ_base=address),
    ]
    assert [a.status_code == 429 for a in answers] == [False] * 4 + [True]


def test_a_forged_forwarded_for_mints_no_budget_behind_a_trusted_proxy(database_url) -> None:
    config = base_config(database_url, Clock(DEFAULT_NOW)) | {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "BOOKING_RATE_LIMIT": "3 per minute",
        "BOOKING_NETWORK_RATE_LIMIT": "100 per minute",
        "PROXY_COUNT": 1,
    }
    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        # nginx appends the address it saw to what the client sent; the app trusts only that
        # last entry, so whatever the client puts before it changes nothing.
        statuses = [
            api_hold(
                client, "127.0.0.1", **{"X-Forwarded-For": f"10.9.{n}.{n}, 198.51.100.77"}
            ).status_code
            for n in range(5)
        ]
        assert statuses == [422, 422, 422, 429, 429]
        other = api_hold(client, "127.0.0.1", **{"X-Forwarded-For": "198.51.100.78"})
        assert other.status_code == 422
        db.session.remove()
        db.engine.dispose()
