"""Offices whose opening hours cross midnight UTC: every "today" and every day is the
office's own local day, never the UTC date.

Seoul opening at 08:00 is 23:00 UTC the evening before; Auckland (UTC+13 in its summer,
with daylight saving time) opens at 20:00 UTC the day before. Between those hours the UTC
date is yesterday's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Role, Status, TicketStatus, User
from consular.services import booking, queue
from consular.services.availability import VisitRules, visit_start_times
from consular.services.errors import ValidationFailed
from consular.services.passwords import hash_password
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)

ZONES = {
    # zone: (opening hours, a weekday of theirs, its opening as a UTC instant)
    "Asia/Seoul": ((time(8), time(12)), date(2026, 12, 2)),
    "Pacific/Auckland": ((time(9), time(13)), date(2026, 12, 2)),
}


@pytest.fixture(params=sorted(ZONES))
def early_office(request, make_office, make_service):
    """An office whose morning is the previous evening in UTC."""
    (opens, closes), day = ZONES[request.param]
    service = make_service(
        "birth-registration", detail_sets=["child"], min_notice_hours=0, duration_minutes=15
    )
    office = make_office(
        timezone=request.param,
        periods=[(weekday, opens, closes, 2) for weekday in range(5)],
        services=[service],
    )
    opening = datetime.combine(day, opens, tzinfo=ZoneInfo(request.param))
    assert opening.astimezone(UTC).date() == day - timedelta(days=1), "hours cross UTC midnight"
    return office, service, day, opening


@pytest.fixture
def clerk(early_office) -> User:
    office = early_office[0]
    user = User(
        email="clerk@example.org",
        name="Clerk",
        role=Role.CLERK,
        password_hash=hash_password("x" * 12),
        offices=[office],
    )
    db.session.add(user)
    db.session.commit()
    return user


def child_details(born: date) -> dict:
    return {
        "child": {
            "given_name": "Alikhan",
            "family_name": "Nurlanov",
            "birth_date": born.isoformat(),
            "birth_place": "Seoul",
        }
    }


def test_the_first_morning_slots_are_offered_on_the_local_day(early_office, clock) -> None:
    office, service, day, opening = early_office
    rules = VisitRules.for_services([service])
    starts = visit_start_times(db.session, office, rules, day, day, clock())
    assert starts[0].starts_at == opening
    assert {s.starts_at.astimezone(office.zone).date() for s in starts} == {day}


def test_a_child_born_today_in_local_time_can_be_registered(early_office, clock) -> None:
    office, service, day, opening = early_office
    clock.set(opening - timedelta(minutes=30))  # local today is `day`, UTC's is the day before
    start = opening + timedelta(minutes=15)
    body = booking_body(office, [service], start, details=child_details(day))
    try:
        request = booking.parse_booking_request(db.session, body, clock(), POLICY)
    except ValidationFailed as refusal:
        details = {k: v for k, v in refusal.fields.items() if k.startswith("details")}
        assert not details, details
        raise
    placed = booking.place_hold(db.session, request, clock(), POLICY)
    assert placed.appointment.status == Status.HELD
    tomorrow = booking_body(office, [service], start, details=child_details(day + timedelta(1)))
    with pytest.raises(ValidationFailed) as refused:
        booking.parse_booking_request(db.session, tomorrow, clock(), POLICY)
    assert any(k.startswith("details") for k in refused.value.fields)


def test_check_in_and_close_day_work_on_the_local_day(early_office, clerk, clock, iins) -> None:
    office, service, day, opening = early_office
    came, absent = next(iins), next(iins)
    for iin, start in ((came, opening), (absent, opening + timedelta(minutes=15))):
        body = booking_body(
            office,
            [service],
            start,
            applicant={"iin": iin},
            details=child_details(date(2026, 11, 1)),
        )
        request = booking.parse_booking_request(db.session, body, clock(), POLICY)
        placed = booking.place_hold(db.session, request, clock(), POLICY)
        booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    db.session.commit()
    visitor = db.session.scalar(
        sa.select(booking.Appointment).where(booking.Appointment.iin == came)
    )

    clock.set(opening - timedelta(minutes=5))
    ticket = queue.check_in(db.session, visitor, clerk, clock())
    assert ticket.service_day == day
    db.session.commit()

    clock.set(opening + timedelta(hours=5))  # after closing, still `day` locally
    assert queue.close_day(db.session, office, day, clock()) == (1, 1)
    db.session.commit()
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.MISSED
    no_show = db.session.scalar(
        sa.select(booking.Appointment).where(booking.Appointment.iin == absent)
    )
    assert no_show.status == Status.NO_SHOW
    # The UTC date is the day before: closing it finds nothing of this office's day.
    assert queue.close_day(db.session, office, day - timedelta(days=1), clock()) == (0, 0)
