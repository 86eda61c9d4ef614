"""Every kind of e-mail a citizen gets, made through the services that send them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consular.database import SessionLike
from consular.models import Appointment, Office, OutboxMessage, ServiceType
from consular.services import booking, notifications
from consular.services.availability import VisitRules, first_free_start_times

# The e-mails about an appointment, in the order a visit's life sends them, and the notice
# (the layout of the lottery's and the waiting list's e-mails).
APPOINTMENT_KINDS = (
    "code",
    "confirmation",
    "reminder",
    "change",
    "schedule_change",
    "review_cancellation",
    "cancellation",
)
KINDS = (*APPOINTMENT_KINDS, "notice")
OFFICE_MESSAGE = "The hall is being repaired."


@dataclass(frozen=True)
class Emails:
    """The appointment the e-mails are about and each kind's message."""

    appointment: Appointment
    manage_token: str
    by_kind: dict[str, OutboxMessage]


def _newest(session: SessionLike) -> OutboxMessage:
    message = session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert message is not None
    return message


def first_free_start(
    session: SessionLike, office: Office, services: list[ServiceType], now: datetime
) -> datetime:
    """The first bookable start at the office for these services, three days ahead or later
    (well before the time to cancel online runs out)."""
    today = now.astimezone(office.zone).date() + timedelta(days=3)
    [start] = first_free_start_times(
        session,
        office,
        VisitRules.for_services(services),
        today,
        today + timedelta(days=40),
        now,
        1,
    )
    return start.starts_at


def every_email(
    session: SessionLike,
    body: dict[str, Any],
    now: datetime,
    policy: booking.BookingPolicy,
) -> Emails:
    """Book the visit of an API booking body and send each e-mail of its life (the reminder,
    change and office's e-mails as their services write them), then cancel it; the session
    is committed."""
    by_kind: dict[str, OutboxMessage] = {}
    request = booking.parse_booking_request(session, body, now, policy)
    placed = booking.place_hold(session, request, now, policy)
    appointment = placed.appointment
    by_kind["code"] = _newest(session)
    booking.confirm_hold(session, appointment, placed.code, now, policy)
    by_kind["confirmation"] = _newest(session)
    token = booking.issue_manage_token(session, appointment, now, policy)
    by_kind["reminder"] = notifications.queue_reminder_email(session, appointment, token, 3, now)
    by_kind["change"] = notifications.queue_change_email(session, appointment, token, now)
    by_kind["schedule_change"] = notifications.queue_schedule_change_email(
        session, appointment, OFFICE_MESSAGE, now
    )
    by_kind["review_cancellation"] = notifications.queue_review_cancellation_email(
        session, appointment, OFFICE_MESSAGE, now, with_calendar=True
    )
    booking.cancel_appointment(session, appointment, "", now, policy)
    by_kind["cancellation"] = _newest(session)
    office = appointment.office
    by_kind["notice"] = notifications.queue_notice_email(
        session,
        kind="waitlist_offered",
        recipient=appointment.email,
        language=appointment.language,
        content=lambda: {
            "language": appointment.language,
            "title": "A seat for you",
            "office_name": office.display_name(appointment.language),
            "paragraphs": ["Hello Aigerim,", "A seat has come free."],
            "facts": [("Reference", appointment.reference), ("Date", "Friday")],
            "link": ("Confirm or decline", f"http://consular.test/waitlist/{token}"),
        },
        now=now,
        appointment=appointment,
    )
    session.commit()
    assert [message.kind for message in by_kind.values()][: len(APPOINTMENT_KINDS)] == list(
        APPOINTMENT_KINDS
    )
    return Emails(appointment, token, by_kind)
