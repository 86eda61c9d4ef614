"""Reminders 3 days and 1 day before a visit, each sent at most once per appointment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from consular.database import SessionLike, rows_changed
from consular.models import Appointment, Status
from consular.services import notifications
from consular.services.booking import BookingPolicy, issue_manage_token


@dataclass(frozen=True)
class Reminder:
    days: int
    column: sa.orm.InstrumentedAttribute[datetime | None]


REMINDERS = (
    Reminder(3, Appointment.reminder_3d_sent_at),
    Reminder(1, Appointment.reminder_1d_sent_at),
)


def send_due_reminders(session: SessionLike, now: datetime, policy: BookingPolicy) -> int:
    """Queue the reminders that are due; safe to run as often as cron likes.

    A reminder is due when the visit is less than its number of days away. Each is claimed
    by a conditional update of its own column, so it goes out once even when two runs race.
    A visit booked less than a day ahead gets no "3 days" reminder: only the nearest fits.
    """
    queued = 0
    for reminder in REMINDERS:
        window_end = now + timedelta(days=reminder.days)
        nearer = [r for r in REMINDERS if r.days < reminder.days]
        query = sa.select(Appointment.id).where(
            Appointment.status == Status.CONFIRMED,
            Appointment.starts_at > now,
            Appointment.starts_at <= window_end,
            reminder.column.is_(None),
        )
        for closer in nearer:
            # When a nearer reminder is due as well, send only that one.
            query = query.where(Appointment.starts_at > now + timedelta(days=closer.days))
        for appointment_id in session.scalars(query.order_by(Appointment.starts_at)).all():
            claimed = session.execute(
                sa.update(Appointment)
                .where(
                    Appointment.id == appointment_id,
                    Appointment.status == Status.CONFIRMED,
                    reminder.column.is_(None),
                )
                .values({reminder.column.key: now})
                .execution_options(synchronize_session=False)
            )
            if rows_changed(claimed) != 1:
                continue
            appointment = session.get(Appointment, appointment_id)
            assert appointment is not None
            session.refresh(appointment)
            token = issue_manage_token(session, appointment, now, policy)
            notifications.queue_reminder_email(session, appointment, token, reminder.days, now)
            queued += 1
    return queued
