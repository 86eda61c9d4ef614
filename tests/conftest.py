"""Fixtures: an app on each database, a clock the test controls, and data factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, g
from flask.testing import FlaskClient

from consular import create_app
from consular.extensions import db
from consular.models import Base, Office, OpeningPeriod, ServiceType
from consular.services import schedule
from consular.services.catalog import set_combinations
from tests.databases import database
from tests.invariants import assert_booking_invariants

BACKENDS = ["sqlite", "postgresql"]
SECRET = "test-secret-key-not-for-production"


class Clock:
    """A settable clock: the app reads the time from it through the CLOCK setting."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment


# Sunday 2026-11-29 12:00 in Seoul: the next visits are on Monday and after.
DEFAULT_NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def base_config(database_url: str, clock: Clock) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "MAIL_DEV_MAILBOX": True,
        "MAIL_SMTP_HOST": "",
        "CLOCK": clock,
        "PUBLIC_BASE_URL": "http://consular.test",
        # The test client speaks plain HTTP; production keeps the Secure flag.
        "SESSION_COOKIE_SECURE": False,
        # Tests of other features make many holds with one e-mail and phone, and check the
        # release times exactly; the fair-access tests turn these on (tests/test_fair_access.py).
        "QUOTA_PER_IIN": 0,
        "QUOTA_PER_EMAIL": 0,
        "QUOTA_PER_PHONE": 0,
        "QUOTA_PER_PRIVATE_DOMAIN": 0,
        "RELEASE_JITTER_MINUTES": 0,
        # Holds need no proof of work here; tests/services/test_proof_of_work.py turns it on.
        "POW_ENABLED": False,
        # Tests move their clock by days after signing in; tests/staff/test_sessions.py sets
        # the real limits.
        "STAFF_IDLE_MINUTES": 10**7,
        "STAFF_SESSION_HOURS": 10**6,
        # Tests of other features sign in with a password alone; tests/staff/test_second_factors.py
        # requires the second factor of managers and administrators, as production does.
        "STAFF_SECOND_FACTOR_ROLES": (),
    }


class FreshGlobalsClient(FlaskClient):
    """A test client whose every request starts with an empty `g`.

    Tests hold one app context open (so they can use db.session), and requests reuse it;
    without this, values cached in `g` (the chosen language, the signed-in user) would
    leak from one request into the next, which never happens in production.
    """

    def open(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        g.__dict__.clear()
        return super().open(*args, **kwargs)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the SQLite case of tests marked `postgresql_only` (a race that SQLite's one
    writer at a time can't produce): not a skip, since nothing is missing."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        if item.get_closest_marker("postgresql_only") and backend == "sqlite":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for the whole run, with the schema made from the models."""
    with database(request.param, tmp_path_factory.mktemp("db")) as url:
        engine = sa.create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url


@pytest.fixture
def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def clock() -> Clock:
    return Clock(DEFAULT_NOW)


@pytest.fixture
def app(
    database_url: str, clock: Clock, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    """The app on a clean database (every table emptied after each test), checked after the
    test for the booking invariants (tests/invariants.py)."""
    app = create_app(base_config(database_url, clock))
    app.instance_path = str(tmp_path)  # files a command writes (demo logins) stay out of the tree
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        yield app
        try:
            if not request.node.get_closest_marker("corrupts_data"):
                check_invariants(clock())
        finally:
            db.session.rollback()
            db.session.remove()
            with db.engine.begin() as connection:
                for table in reversed(Base.metadata.sorted_tables):
                    connection.execute(table.delete())
            db.engine.dispose()


def check_invariants(now: datetime) -> None:
    """Check the invariants on what the test left: its own transaction if it can still be
    read, else what was committed."""
    try:
        db.session.flush()
        assert_booking_invariants(db.session, now)
    except sa.exc.DBAPIError:
        db.session.rollback()
        assert_booking_invariants(db.session, now)
    except sa.exc.InvalidRequestError:  # a test that left a failed flush behind
        db.session.rollback()
        assert_booking_invariants(db.session, now)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_office(app: Flask, clock: Clock) -> Callable[..., Office]:
    """Create an office with hours (weekdays 09:00-12:30 and 14:00-17:00) and its slots."""
    counter = iter(range(1, 1000))

    def factory(
        code: str | None = None,
        *,
        timezone: str = "Asia/Seoul",
        slot_minutes: int = 15,
        desks: int = 2,
        periods: list[tuple[int, time, time, int]] | None = None,
        services: list[ServiceType] | None = None,
        horizon_days: int = 60,
        generate: bool = True,
    ) -> Office:
        number = next(counter)
        code = code or f"office{number}"
        office = Office(
            code=code,
            reference_prefix="T" + chr(65 + number // 26) + chr(65 + number % 26),
            name={"en": f"Office {code}", "ru": f"Офис {code}"},
            address={"en": f"{number} Test Street"},
            timezone=timezone,
            slot_minutes=slot_minutes,
        )
        if periods is None:
            periods = [
                (weekday, start, end, desks)
                for weekday in range(5)
                for start, end in ((time(9), time(12, 30)), (time(14), time(17)))
            ]
        for weekday, opens, closes, period_desks in periods:
            office.opening_periods.append(
                OpeningPeriod(weekday=weekday, opens_at=opens, closes_at=closes, desks=period_desks)
            )
        office.services = list(services or [])
        db.session.add(office)
        db.session.flush()
        if generate:
            schedule.sync_slots(db.session, office, clock(), horizon_days)
        db.session.commit()
        return office

    return factory


@pytest.fixture
def make_service(app: Flask) -> Callable[..., ServiceType]:
    """Create a service type with sensible defaults."""
    counter = iter(range(1, 1000))

    def factory(code: str | None = None, *, combinable: bool = True, **fields: Any) -> ServiceType:
        """`combinable`: may share a visit with every service made before it."""
        number = next(counter)
        values: dict[str, Any] = {
            "code": code or f"service-{number}",
            "name": {"en": f"Service {number}", "ru": f"Услуга {number}"},
            "documents": {"en": ["Passport"], "ru": ["Паспорт"]},
            "fee": {"en": "Paid at the desk"},
            "duration_minutes": 15,
            "detail_sets": [],
            "min_notice_hours": 2,
            "horizon_days": 60,
            "cutoff_hours": 24,
            "sort_order": number,
        }
        values.update(fields)
        service = ServiceType(**values)
        db.session.add(service)
        db.session.flush()
        if combinable:
            earlier = db.session.scalars(sa.select(ServiceType).where(ServiceType.id != service.id))
            set_combinations(db.session, service, list(earlier))
        db.session.commit()
        return service

    return factory


# IINs that pass the check digit, for tests that need many different people.
def valid_iins() -> Iterator[str]:
    """Generate distinct valid IINs (born in the 1990s)."""
    from consular.services.identity import iin_check_digit

    for serial in range(1, 100000):
        first = f"900101{3}{serial:04d}"
        check = iin_check_digit(first)
        if check is not None:
            yield f"{first}{check}"


@pytest.fixture
def iins() -> Iterator[str]:
    return valid_iins()


def booking_body(
    office: Office, services: list[ServiceType], start: datetime, **overrides: Any
) -> dict[str, Any]:
    """A valid API booking body for the given visit."""
    applicant = {
        "given_name": "Aigerim",
        "family_name": "Nurlanova",
        "iin": "850502401238",
        "passport_number": "N12345678",
        "email": "aigerim@example.com",
        "phone": "010-1234-5678",
    }
    applicant.update(overrides.pop("applicant", {}))
    body = {
        "office": office.code,
        "services": [s.code for s in services],
        "start": start.astimezone(office.zone).isoformat(),
        "applicant": applicant,
        "language": "en",
        "details": {},
    }
    body.update(overrides)
    return body


@pytest.fixture
def tmp_folder(tmp_path: Path) -> Path:
    return tmp_path


from tests.own_apps import app_with  # noqa: E402,F401
from tests.smtp import smtp_server  # noqa: E402,F401


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 with its production cost makes every sign-in in the suite slow; tests of
    behaviour need the same algorithm, not the same cost."""
    import argon2

    from consular.services import passwords

    production = passwords._hasher
    passwords._hasher = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = production
