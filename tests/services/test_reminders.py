"""Reminders go out 3 days and 1 day before a visit, once each, in the citizen's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale, gettext

from consular.extensions import db
from consular.models import OutboxMessage
from consular.services import booking
from consular.services.reminders import send_due_reminders
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)
FRIDAY_9 = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)  # 09:00 in Seoul


def _book(office, service, start, now, language="ru", iin="850502401238"):
    body = booking_body(office, [service], start, applicant={"iin": iin}, language=language)
    request = booking.parse_booking_request(db.session, body, now, POLICY)
    placed = booking.place_hold(db.session, request, now, POLICY)
    booking.confirm_hold(db.session, placed.appointment, placed.code, now, POLICY)
    db.session.commit()
    return placed.appointment


def _reminders() -> list[OutboxMessage]:
    return db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "reminder").order_by(OutboxMessage.id)
    ).all()


def test_three_days_then_one_day_before_and_never_twice(app, make_office, make_service, clock):
    service = make_service()
    office = make_office(services=[service])
    _book(office, service, FRIDAY_9, clock())  # booked on Sunday for Friday

    assert send_due_reminders(db.session, clock(), POLICY) == 0  # five days ahead
    clock.set(FRIDAY_9 - timedelta(days=3) + timedelta(minutes=1))
    assert send_due_reminders(db.session, clock(), POLICY) == 1
    assert send_due_reminders(db.session, clock(), POLICY) == 0  # a second cron run
    clock.advance(hours=48)  # now 23 hours 59 minutes before the visit
    assert send_due_reminders(db.session, clock(), POLICY) == 1
    assert send_due_reminders(db.session, clock(), POLICY) == 0
    db.session.commit()

    first, second = _reminders()
    with force_locale("ru"):
        coming_up = gettext("Your consular appointment is coming up. Here are its details.")
        subject = gettext("Reminder: your consular appointment %(reference)s", reference="")
    assert not coming_up.startswith("Your")  # really translated
    assert coming_up in first.text_body
    assert first.subject.startswith(subject.strip())
    assert "/manage/" in first.text_body and "/manage/" in second.text_body
    assert first.text_body.split("/manage/")[1] != second.text_body.split("/manage/")[1]
    assert {a["content_type"].split(";")[0] for a in second.attachments} == {
        "text/calendar",
        "image/png",
    }


def test_a_visit_booked_for_tomorrow_gets_only_the_one_day_reminder(
    app, make_office, make_service, clock
):
    service = make_service(min_notice_hours=2)
    office = make_office(services=[service])
    _book(office, service, datetime(2026, 11, 30, 0, 0, tzinfo=UTC), clock(), language="en")
    assert send_due_reminders(db.session, clock(), POLICY) == 1
    clock.advance(hours=2)
    assert send_due_reminders(db.session, clock(), POLICY) == 0
    (reminder,) = _reminders()
    assert "coming up" in reminder.text_body and "Monday, November 30, 2026" in reminder.text_body


def test_cancelled_visits_get_no_reminder(app, make_office, make_service, clock):
    service = make_service(cutoff_hours=1)
    office = make_office(services=[service])
    appointment = _book(office, service, FRIDAY_9, clock())
    booking.cancel_appointment(db.session, appointment, "", clock(), POLICY)
    clock.set(FRIDAY_9 - timedelta(hours=20))
    assert send_due_reminders(db.session, clock(), POLICY) == 0


def test_the_cli_command_queues_and_reports(app, make_office, make_service, clock):
    service = make_service()
    office = make_office(services=[service])
    _book(office, service, FRIDAY_9, clock())
    clock.set(FRIDAY_9 - timedelta(hours=20))
    result = app.test_cli_runner().invoke(args=["reminders", "send"])
    assert result.exit_code == 0 and "1 reminders queued" in result.output
    again = app.test_cli_runner().invoke(args=["reminders", "send"])
    assert "0 reminders queued" in again.output
