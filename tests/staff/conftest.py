"""Staff fixtures: two offices with desks, and an account of each role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consular.extensions import db
from consular.models import Appointment, Desk, Role, User
from consular.services import booking
from consular.services.passwords import hash_password
from tests.conftest import SECRET, booking_body

PASSWORD = "correct horse battery staple"
POLICY = booking.BookingPolicy(secret=SECRET)
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul


@pytest.fixture
def offices(make_office, make_service):
    service = make_service("passport-renewal", duration_minutes=15)
    seoul = make_office("seoul", services=[service])
    busan = make_office("busan", services=[service])
    seoul.ticket_prefix, busan.ticket_prefix = "S", "B"
    seoul.walk_in_share = busan.walk_in_share = 20
    db.session.add_all([Desk(office=seoul, name="1"), Desk(office=busan, name="1")])
    db.session.commit()
    return seoul, busan


@pytest.fixture
def accounts(offices) -> dict[str, User]:
    seoul, busan = offices
    people = {
        "clerk_seoul": User(
            email="clerk.seoul@example.org", name="Clerk Seoul", role=Role.CLERK, offices=[seoul]
        ),
        "clerk_busan": User(
            email="clerk.busan@example.org", name="Clerk Busan", role=Role.CLERK, offices=[busan]
        ),
        "manager_seoul": User(
            email="manager.seoul@example.org",
            name="Manager Seoul",
            role=Role.MANAGER,
            offices=[seoul],
        ),
        "admin": User(email="admin@example.org", name="Admin", role=Role.ADMIN, offices=[]),
    }
    for user in people.values():
        user.password_hash = hash_password(PASSWORD)
    db.session.add_all(people.values())
    db.session.commit()
    return people


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/staff/sign-in", data={"email": email, "password": password})


def book(office, start, iin, now, **fields) -> Appointment:
    """A visit booked and confirmed through the booking service, committed."""
    body = booking_body(office, [office.services[0]], start, applicant={"iin": iin}, **fields)
    request = booking.parse_booking_request(db.session, body, now, POLICY)
    placed = booking.place_hold(db.session, request, now, POLICY)
    booking.confirm_hold(db.session, placed.appointment, placed.code, now, POLICY)
    db.session.commit()
    return placed.appointment


@pytest.fixture
def clerk(app, offices, accounts, clock):
    """Seoul's clerk, signed in, on Monday at 09:00 (the visits are booked the day before)."""
    client = app.test_client()
    assert sign_in(client, accounts["clerk_seoul"].email).status_code == 302
    return client


@pytest.fixture
def visits(offices, clock, iins) -> list[Appointment]:
    """Two visits on Monday (09:00 and 10:00) and one on Tuesday, booked on Sunday; the
    clock is then Monday 09:00."""
    seoul, _busan = offices
    clock.set(MONDAY_9 - timedelta(days=1))
    booked = [
        book(seoul, MONDAY_9, next(iins), clock()),
        book(seoul, MONDAY_9 + timedelta(hours=1), next(iins), clock()),
        book(seoul, MONDAY_9 + timedelta(days=1), next(iins), clock()),  # Tuesday
    ]
    clock.set(MONDAY_9)
    return booked
