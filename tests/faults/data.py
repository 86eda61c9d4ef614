"""Test data for servers that run on the real clock: an office open on weekdays with its
slots from today, one online service, staff accounts and queue tickets, written by an app of
the test's own process into the database the servers use (already migrated).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from consular import create_app
from consular.extensions import db
from consular.models import Desk, Office, OpeningPeriod, Role, ServiceType, Slot, User
from consular.services import queue, schedule
from consular.services.passwords import hash_password

OFFICE = "seoul"
SERVICE = "passport-renewal"
ZONE = ZoneInfo("Asia/Seoul")
STAFF_PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Seeded:
    """What the servers offer: the office and service codes, and the start times of the
    visits a test books (the first `starts` bookable slots)."""

    office: str
    service: str
    starts: list[datetime]
    desks: list[int]


@contextmanager
def data_app(database_url: str) -> Iterator[Flask]:
    """An app of this process on the servers' database, in an app context, for writing and
    reading test data (its engine disposed afterwards)."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-data-only",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_ENABLED": False,
            "AVAILABILITY_CACHE_URL": "memory://",
            "STAFF_PAGE_CACHE_URL": "memory://",
        }
    )
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def seed_office(database_url: str, now: datetime, *, starts: int = 24, desks: int = 2) -> Seeded:
    """The Seoul office (weekdays 09:00-17:00, 15-minute slots, `desks` desks each) with one
    service bookable from an hour ahead, and its slots of the next three weeks."""
    with data_app(database_url):
        office = Office(
            code=OFFICE,
            reference_prefix="SEL",
            name={"en": "Embassy in Seoul (test data)"},
            address={"en": "Seoul (test data)"},
            timezone=str(ZONE),
            slot_minutes=15,
            ticket_prefix="S",
        )
        for weekday in range(5):
            office.opening_periods.append(
                OpeningPeriod(
                    weekday=weekday, opens_at=clock_time(9), closes_at=clock_time(17), desks=desks
                )
            )
        service = ServiceType(
            code=SERVICE,
            name={"en": "Passport renewal"},
            documents={"en": ["Passport"]},
            fee={"en": "Paid at the desk"},
            duration_minutes=15,
            detail_sets=[],
            min_notice_hours=1,
            horizon_days=30,
            cutoff_hours=1,
        )
        service.offices.append(office)
        db.session.add_all([office, service])
        db.session.flush()
        for number in range(1, desks + 1):
            db.session.add(Desk(office=office, name=str(number)))
        schedule.sync_slots(db.session, office, now, 21)
        db.session.commit()
        first = now + timedelta(hours=2)
        chosen = list(
            db.session.scalars(
                sa.select(Slot.starts_at)
                .where(Slot.office_id == office.id, Slot.starts_at >= first, Slot.capacity > 0)
                .order_by(Slot.starts_at)
                .limit(starts)
            )
        )
        desk_ids = list(
            db.session.scalars(
                sa.select(Desk.id).where(Desk.office_id == office.id).order_by(Desk.id)
            )
        )
        return Seeded(OFFICE, SERVICE, chosen, desk_ids)


def add_clerks(database_url: str, count: int) -> list[str]:
    """`count` clerks of the Seoul office (password STAFF_PASSWORD); their e-mail addresses."""
    emails = [f"clerk{number}@consulate.test" for number in range(1, count + 1)]
    with data_app(database_url):
        office = db.session.scalars(sa.select(Office).where(Office.code == OFFICE)).one()
        password_hash = hash_password(STAFF_PASSWORD)
        for number, email in enumerate(emails, 1):
            db.session.add(
                User(
                    email=email,
                    name=f"Clerk {number}",
                    role=Role.CLERK,
                    offices=[office],
                    password_hash=password_hash,
                )
            )
        db.session.commit()
    return emails


def issue_tickets(database_url: str, count: int, now: datetime | None = None) -> list[int]:
    """`count` walk-in tickets waiting today at the Seoul office (urgent, so that no walk-in
    allowance limits them); their ids in the order they were issued."""
    moment = now or datetime.now(UTC)
    with data_app(database_url):
        office = db.session.scalars(sa.select(Office).where(Office.code == OFFICE)).one()
        service = office.services[0]
        ids = [
            queue.issue_walk_in(db.session, office, service, None, moment, urgent=True).id
            for _number in range(count)
        ]
        db.session.commit()
        return ids
