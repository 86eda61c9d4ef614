"""The short-lived availability cache: what it keeps, how long, and what drops it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consular import availability_cache, create_app
from consular.availability_cache import AvailabilityCache
from consular.extensions import db
from consular.models import Slot
from tests.conftest import base_config, booking_body
from tests.databases import REDIS_URL, missing_service
from tests.statements import counted_statements

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
DAY = "from=2026-11-30&to=2026-11-30"
AVAILABILITY = f"/api/v1/offices/seoul/availability?services=passport-renewal&{DAY}"


@pytest.fixture
def seoul(make_office, make_service):
    passport = make_service("passport-renewal", duration_minutes=30)
    return make_office("seoul", services=[passport]), passport


def free_at(client, start: str = "2026-11-30T09:00:00+09:00") -> int:
    slots = client.get(AVAILABILITY).get_json()["slots"]
    return {s["start"]: s["available"] for s in slots}[start]


def test_a_second_look_reads_nothing_and_answers_the_same(client, seoul) -> None:
    first = client.get(AVAILABILITY)
    with counted_statements() as statements:
        again = client.get(AVAILABILITY)
    assert statements == []
    assert again.get_json() == first.get_json()
    assert again.mimetype == "application/json"


def test_without_cache_each_look_reads_the_database(app, client, seoul) -> None:
    app.extensions["availability_cache"].ttl = 0
    client.get(AVAILABILITY)
    with counted_statements() as statements:
        client.get(AVAILABILITY)
    # The office, its services, the lottery releases, the slots with their free seats, and
    # the closures of the period (the closed days and their public reasons).
    assert len(statements) == 5


def test_a_hold_in_this_worker_shows_at_once(client, seoul, iins) -> None:
    office, passport = seoul
    assert free_at(client) == 2
    body = booking_body(office, [passport], MONDAY_9, applicant={"iin": next(iins)})
    assert client.post("/api/v1/appointments", json=body).status_code == 201
    assert free_at(client) == 1  # same instant of the clock: the commit dropped the entry


def test_a_refused_write_keeps_the_entries(client, seoul) -> None:
    free_at(client)
    # A hold refused before any seat was taken (no such time) commits nothing.
    office, passport = seoul
    body = booking_body(office, [passport], MONDAY_9 + timedelta(minutes=7))
    assert client.post("/api/v1/appointments", json=body).status_code == 409
    with counted_statements() as statements:
        free_at(client)
    assert statements == []


def test_another_worker_sees_a_taken_seat_within_the_lifetime(
    app, client, seoul, iins, database_url, clock
) -> None:
    """Two apps stand for two workers, each with its own memory cache: a seat taken in one
    shows as free in the other for at most AVAILABILITY_CACHE_SECONDS."""
    office, passport = seoul
    # The lifetime is checked on the app's clock, which the test moves; a long one on the
    # machine's clock keeps a slow moment of a loaded machine from ending it first.
    other = create_app(base_config(database_url, clock) | {"AVAILABILITY_CACHE_SECONDS": 60.0})
    other_client = other.test_client()
    with other.app_context():
        assert free_at(other_client) == 2  # the other worker keeps this answer
    body = booking_body(office, [passport], MONDAY_9, applicant={"iin": next(iins)})
    assert client.post("/api/v1/appointments", json=body).status_code == 201
    ttl = other.config["AVAILABILITY_CACHE_SECONDS"]
    with other.app_context():
        try:
            clock.advance(seconds=ttl / 2)
            assert free_at(other_client) == 2  # still within the lifetime: the old answer
            clock.advance(seconds=ttl / 2 + 0.001)
            assert free_at(other_client) == 1  # past it: never longer
        finally:
            # Closed even when an assertion fails, so that no open connection is left for a
            # later test to meet as a ResourceWarning.
            db.session.remove()
            db.engine.dispose()


def test_an_entry_serves_only_its_own_moment(app) -> None:
    cache = AvailabilityCache(ttl=1.0)
    cache.put("k", MONDAY_9, "value", str.encode, cache.generation())
    assert cache.get("k", MONDAY_9 + timedelta(seconds=1), bytes.decode) == "value"
    assert cache.get("k", MONDAY_9 + timedelta(seconds=1.001), bytes.decode) is None
    cache.put("k", MONDAY_9, "value", str.encode, cache.generation())
    assert cache.get("k", MONDAY_9 - timedelta(seconds=1), bytes.decode) is None  # clock back


def test_an_entry_dies_with_real_time_too(app, monkeypatch) -> None:
    cache = AvailabilityCache(ttl=1.0)
    cache.put("k", MONDAY_9, "value", str.encode, cache.generation())
    real = availability_cache.time.monotonic()
    monkeypatch.setattr(availability_cache.time, "monotonic", lambda: real + 1.01)
    assert cache.get("k", MONDAY_9, bytes.decode) is None


def test_a_schedule_change_drops_the_entries(client, seoul) -> None:
    office, _ = seoul
    assert free_at(client) == 2
    slot = db.session.scalar(
        sa.select(Slot).where(Slot.office_id == office.id, Slot.starts_at == MONDAY_9)
    )
    assert slot is not None
    slot.is_blocked = True
    db.session.commit()
    assert free_at(client) == 0


def test_the_time_page_content_follows_a_hold(client, seoul, iins) -> None:
    office, passport = seoul
    page = "/book/seoul/time?services=passport-renewal&month=2026-11&day=2026-11-30"
    assert 'href="/book/seoul/details?services=passport-renewal&amp;start=2026-11-30T09:00' in (
        client.get(page).get_data(as_text=True)
    )
    with counted_statements() as statements:
        client.get(page)
    assert statements == []  # the content came from the cache
    for _ in range(2):
        body = booking_body(office, [passport], MONDAY_9, applicant={"iin": next(iins)})
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    html = client.get(page).get_data(as_text=True)
    assert "start=2026-11-30T09:00" not in html  # full now: no longer a link


def test_the_page_around_the_content_is_each_visitors_own(client, seoul) -> None:
    page = "/book/seoul/time?services=passport-renewal"
    english = client.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    russian = client.get(page, headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert '<html lang="en">' in english and '<html lang="ru">' in russian
    assert english != russian  # the language is part of what the content is kept under


def redis_cache(ttl: float = 1.0) -> AvailabilityCache:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as error:
        missing_service(f"Redis is not reachable at {REDIS_URL}: {error}")
    cache = AvailabilityCache(ttl, REDIS_URL)
    # Keys of their own, so that runs in parallel never meet.
    prefix = f"test-{uuid.uuid4().hex}"
    cache._key = lambda name: f"{prefix}:{name}"  # type: ignore[method-assign]
    return cache


def test_workers_share_entries_and_their_dropping_through_redis(app) -> None:
    one = redis_cache()
    two = redis_cache()
    two._key = one._key  # type: ignore[method-assign]
    one.put("k", MONDAY_9, "value", str.encode, one.generation())
    assert two.get("k", MONDAY_9, bytes.decode) == "value"
    assert two.get("k", MONDAY_9 + timedelta(seconds=2), bytes.decode) is None
    two.clear()  # a write in the second worker
    assert one.get("k", MONDAY_9, bytes.decode) is None


def test_redis_away_means_reading_the_database(app) -> None:
    cache = AvailabilityCache(1.0, "redis://127.0.0.1:1/0")
    assert cache.generation() is None  # no error, and nothing will be kept
    cache.put("k", MONDAY_9, "value", str.encode, cache.generation())
    assert cache.get("k", MONDAY_9, bytes.decode) is None
    cache.clear()


def test_a_cache_lifetime_is_bounded(monkeypatch, tmp_path) -> None:
    from consular.config import ConfigError, load_config

    monkeypatch.setenv("AVAILABILITY_CACHE_SECONDS", "120")
    with pytest.raises(ConfigError):
        load_config(str(tmp_path))
    monkeypatch.setenv("AVAILABILITY_CACHE_SECONDS", "soon")
    with pytest.raises(ConfigError):
        load_config(str(tmp_path))
    monkeypatch.setenv("AVAILABILITY_CACHE_SECONDS", "0.5")
    assert load_config(str(tmp_path))["AVAILABILITY_CACHE_SECONDS"] == 0.5


def test_the_time_page_reads_the_same_statements_however_full_the_month(
    app, client, seoul, iins
) -> None:
    app.extensions["availability_cache"].ttl = 0
    office, passport = seoul
    page = "/book/seoul/time?services=passport-renewal&month=2026-12"
    with counted_statements() as empty:
        assert client.get(page).status_code == 200
    for days in (1, 2, 3, 8, 9, 10):  # weekdays of December
        body = booking_body(
            office, [passport], MONDAY_9 + timedelta(days=days), applicant={"iin": next(iins)}
        )
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    with counted_statements() as busy:
        assert client.get(page).status_code == 200
    # The office, its services, the lottery releases from today, the month's free seats, the
    # next free times and the month's closures.
    assert len(busy) == len(empty) == 6


def test_a_value_computed_across_a_write_is_not_kept(app) -> None:
    cache = AvailabilityCache(ttl=1.0)
    before = cache.generation()
    cache.clear()  # a commit that took a seat while the value was being computed
    cache.put("k", MONDAY_9, "stale", str.encode, before)
    assert cache.get("k", MONDAY_9, bytes.decode) is None


def test_through_redis_too(app) -> None:
    one = redis_cache()
    two = redis_cache()
    two._key = one._key  # type: ignore[method-assign]
    before = one.generation()
    two.clear()  # the write, in another worker
    one.put("k", MONDAY_9, "stale", str.encode, before)
    assert one.get("k", MONDAY_9, bytes.decode) is None
    assert two.get("k", MONDAY_9, bytes.decode) is None
