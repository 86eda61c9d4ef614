"""Benchmark databases: PostgreSQL databases of N appointments shaped like years of real use.

The history is made by the demo's history generator (the same outcomes, seats, tickets and
walk-ins as `make run` shows, at the scale of a busy consulate: thirty desks per office),
day after day backwards from yesterday until N appointments are stored. On top of it come
the same few hundred visits booked ahead through the booking service itself, so every size
differs only in how much history lies behind today. The seat counts and service lines are
checked on the result as the test suite checks them after every test.

A database is kept between runs (its name says its size and the builder's version) and
built again only when the schema or the builder changed.
"""

from __future__ import annotations

import math
import os
import random
import time as clock
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from flask import Flask, current_app

from consular import create_app
from consular.extensions import db

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Raised whenever the shape of the data made here changes, so old databases are rebuilt.
BUILDER_VERSION = 1
DESKS = 30
DAYS_PER_BATCH = 20
FUTURE_BOOKINGS_PER_OFFICE = 300
FUTURE_DAYS = 30
SEED = 10
# Every demo account of a bench database signs in with this password.
PASSWORD = "bench-password-2026"
CLERK = "clerk.seoul@demo.consular.localhost"
ADMIN = "admin@demo.consular.localhost"


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str
    appointments: int
    built_in_seconds: float | None  # None: reused from an earlier run


def database_name(appointments: int) -> str:
    return f"consular_bench_v{BUILDER_VERSION}_{appointments}"


def sqlalchemy_url(name: str, admin_url: str = ADMIN_URL) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def bench_app(url: str, **config: Any) -> Flask:
    """The app on a bench database, with rate limits off (the load comes from one address)."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "RATELIMIT_ENABLED": False,
            "MAIL_DEV_MAILBOX": False,
            **config,
        }
    )


def _exists(name: str, admin_url: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def _is_finished(url: str) -> bool:
    """Whether a kept database was built to the end (it is then brought to the schema's head
    by the migrations, as production would be)."""
    with bench_app(url).app_context():
        try:
            return db.session.scalar(sa.text("SELECT appointments FROM bench_built")) is not None
        except sa.exc.ProgrammingError:
            return False


@contextmanager
def scratch_database(keep: bool = False) -> Iterator[str]:
    """A new, empty database for one run, its SQLAlchemy URL; dropped afterwards unless
    `keep` (then its URL is printed, to reuse)."""
    name = f"consular_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = sqlalchemy_url(name)
    try:
        yield url
    finally:
        if keep:
            print(f"database kept: {url}")
        else:
            drop_database(name)


def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ensure_database(
    appointments: int, *, admin_url: str = ADMIN_URL, rebuild: bool = False, log=print
) -> BenchDatabase:
    """A bench database of about `appointments` appointments, reused when still current."""
    name = database_name(appointments)
    url = sqlalchemy_url(name, admin_url)
    if not rebuild and _exists(name, admin_url) and _is_finished(url):
        from flask_migrate import upgrade

        with bench_app(url).app_context():
            # BENCH_NO_MIGRATE: an older checkout measured on today's schema (BENCH_APP_ROOT).
            if not os.environ.get("BENCH_NO_MIGRATE"):
                upgrade()
                # What the nightly cron does: the report's figures of the settled days.
                result = current_app.test_cli_runner().invoke(args=["reports", "rollup"])
                if result.exit_code != 0:
                    raise RuntimeError(f"flask reports rollup failed: {result.output}")
            _set_passwords()
            db.session.commit()
            stored = db.session.scalar(sa.text("SELECT count(*) FROM appointment"))
        return BenchDatabase(name, url, int(stored or 0), None)
    drop_database(name, admin_url)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    started = clock.perf_counter()
    stored = build(url, appointments, log=log)
    return BenchDatabase(name, url, stored, clock.perf_counter() - started)


def build(url: str, appointments: int, *, log=print) -> int:
    """Fill an empty database; returns the number of appointments stored."""
    from flask_migrate import upgrade

    from consular.demo import seed

    app = bench_app(url)
    now = datetime.now().astimezone()
    with app.app_context():
        upgrade()
        seed(db.session, now, app.config["SLOT_HORIZON_DAYS"], history_days=0)
        _widen_offices(now, app.config["SLOT_HORIZON_DAYS"])
        _set_passwords()
        db.session.commit()
        ahead = _book_ahead(now)
        db.session.commit()
        made = _add_history(now, appointments - ahead, log)
        db.session.execute(sa.text("ANALYZE"))
        _check_invariants(now)
        db.session.execute(sa.text("CREATE TABLE bench_built (appointments integer)"))
        db.session.execute(sa.text("INSERT INTO bench_built VALUES (:n)"), {"n": made + ahead})
        db.session.commit()
        return int(db.session.scalar(sa.text("SELECT count(*) FROM appointment")) or 0)


def _widen_offices(now: datetime, horizon_days: int) -> None:
    """Thirty desks in every opening period of each office, as a busy consulate has."""
    from consular.models import Desk, Office
    from consular.services import schedule

    for office in db.session.scalars(sa.select(Office).order_by(Office.id)):
        for period in office.opening_periods:
            period.desks = DESKS
        have = {
            desk.name
            for desk in db.session.scalars(sa.select(Desk).where(Desk.office_id == office.id))
        }
        for number in range(1, DESKS + 1):
            if str(number) not in have:
                db.session.add(Desk(office=office, name=str(number)))
        db.session.flush()
        schedule.sync_slots(db.session, office, now, horizon_days)


def _set_passwords() -> None:
    from consular.models import User
    from consular.services.passwords import hash_password

    password_hash = hash_password(PASSWORD)
    for user in db.session.scalars(sa.select(User)):
        user.password_hash = password_hash
        user.must_change_password = False


def booking_body(office_code: str, start: datetime, iin: str, number: int) -> dict[str, Any]:
    """A valid API body holding a passport renewal at `start` for a made-up person."""
    return {
        "office": office_code,
        "services": ["passport-renewal"],
        "start": start.isoformat(),
        "language": "ru",
        "applicant": {
            "given_name": "Aigerim",
            "family_name": "Bench",
            "iin": iin,
            "passport_number": f"N{number % 10**8:08d}",
            # A mailbox and a phone of their own at a public provider, as real people have:
            # the fair-access quotas count live holds per address, phone and private domain.
            "email": f"bench.{number}@gmail.com",
            "phone": f"010-5{number // 10_000 % 1000:03d}-{number % 10_000:04d}",
        },
        "details": {
            "current_passport": {"expiry_date": (start.date() + timedelta(days=30)).isoformat()}
        },
    }


def made_up_iins(seed: int) -> Any:
    """Endless distinct valid IINs, different for each seed."""
    from consular.services.identity import iin_check_digit

    rng = random.Random(seed)
    seen: set[str] = set()
    while True:
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
        first = f"{born:%y%m%d}{rng.choice((3, 4))}{rng.randrange(10_000):04d}"
        check = iin_check_digit(first)
        if check is not None and first not in seen:
            seen.add(first)
            yield f"{first}{check}"


def _book_ahead(now: datetime) -> int:
    """Visits booked ahead and confirmed through the booking service, as citizens would."""
    from consular.models import Office, Slot
    from consular.services import booking
    from consular.services.errors import DomainError

    policy = booking.policy_from_config(current_app.config)
    rng = random.Random(SEED)
    iins = made_up_iins(SEED)
    made = 0
    for office in db.session.scalars(sa.select(Office).order_by(Office.id)):
        starts = list(
            db.session.scalars(
                sa.select(Slot.starts_at)
                .where(
                    Slot.office_id == office.id,
                    Slot.starts_at >= now + timedelta(days=2),
                    Slot.starts_at < now + timedelta(days=FUTURE_DAYS),
                    Slot.capacity > 0,
                )
                .order_by(Slot.starts_at)
            )
        )
        for number in range(FUTURE_BOOKINGS_PER_OFFICE):
            start = rng.choice(starts).astimezone(office.zone)
            body = booking_body(office.code, start, next(iins), number)
            try:
                with db.session.begin_nested():
                    request = booking.parse_booking_request(db.session, body, now, policy)
                    placed = booking.place_hold(db.session, request, now, policy)
                    booking.confirm_hold(db.session, placed.appointment, placed.code, now, policy)
                made += 1
            except DomainError:
                continue  # that time was full or not a start: the next one is another
    return made


def _add_history(now: datetime, wanted: int, log) -> int:
    """Past days of both offices, newest first, until `wanted` appointments are made."""
    import consular.demo as demo
    from consular.models import Office, ServiceType
    from consular.services.booking import policy_from_config

    policy = policy_from_config(current_app.config)
    rng = random.Random(demo.HISTORY_SEED)
    offices = list(db.session.scalars(sa.select(Office).order_by(Office.id)))
    references: set[str] = set()
    made = 0
    last_day = {o.id: now.astimezone(o.zone).date() - timedelta(days=1) for o in offices}
    days_done = 0
    started = clock.perf_counter()
    while made < wanted:
        for office_id in last_day:
            office = db.session.get(Office, office_id)
            assert office is not None
            services = {s.code: s for s in db.session.scalars(sa.select(ServiceType))}
            days = DAYS_PER_BATCH if days_done else 1
            if made:
                # Fewer days in the last batches, so that the total lands near `wanted`.
                per_day = made / days_done
                days = min(days, math.ceil((wanted - made) / per_day / len(offices)))
            first_day = last_day[office_id] - timedelta(days=max(1, days) - 1)
            made += demo._office_history(
                db.session,
                rng,
                office,
                services,
                first_day,
                last_day[office_id],
                policy,
                references,
            )
            days_done += (last_day[office_id] - first_day).days + 1
            last_day[office_id] = first_day - timedelta(days=1)
            if made >= wanted:
                break
        db.session.commit()
        db.session.expunge_all()
        log(f"  {made:,} past appointments ({clock.perf_counter() - started:.0f} s)")
    return made


def _check_invariants(now: datetime) -> None:
    """The checks the test suite runs after every test, on SQL aggregates so that they scale."""
    problems = db.session.execute(
        sa.text(
            """
            SELECT count(*) FROM slot s
            WHERE s.booked <> (SELECT count(*) FROM appointment_slot a
                               WHERE a.slot_id = s.id AND a.holds_seat)
               OR s.booked > s.capacity
            """
        )
    ).scalar_one()
    ended_active = db.session.execute(
        sa.text(
            """
            SELECT count(*) FROM appointment_service l JOIN appointment a ON a.id = l.appointment_id
            WHERE l.is_active AND a.status NOT IN ('held', 'confirmed')
            """
        )
    ).scalar_one()
    if problems or ended_active:
        raise RuntimeError(
            f"bench data broke invariants: {problems} slots miscounted, "
            f"{ended_active} ended visits still counted as bookings"
        )
