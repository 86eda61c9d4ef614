"""The rules a page shows as controls, defined once for the services, views and templates.

A template that repeats a rule (`call_count < 3`) silently disagrees with the service the
day the rule changes; pages call these instead (they are template globals).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import current_app

from consular.models import Appointment, Role, Status, User
from consular.services import booking, queue

# The queue owns the rule; pages see it under the same name.
can_recall = queue.can_recall


def can_check_in(appointment: Appointment, now: datetime) -> bool:
    """Whether the visitor can be checked in now: a confirmed visit of the office's today."""
    office = appointment.office
    return can_check_in_on(
        appointment.status,
        appointment.starts_at.astimezone(office.zone).date(),
        queue.service_day(office, now),
    )


def can_check_in_on(status: str, visit_day: date, today: date) -> bool:
    """The same rule for a visit whose local day is known (a day's list): confirmed, and
    the day is the office's today."""
    return status == Status.CONFIRMED and visit_day == today


def can_mark_no_show(appointment: Appointment, now: datetime) -> bool:
    """Whether the visit can be marked as a no-show now: it is confirmed (nobody checked
    in) and its time plus NO_SHOW_GRACE_MINUTES has passed (the queue's rule)."""
    grace = timedelta(minutes=int(current_app.config["NO_SHOW_GRACE_MINUTES"]))
    return queue.can_mark_no_show_at(appointment.status, appointment.starts_at, now, grace)


def can_change(appointment: Appointment, now: datetime) -> bool:
    """Whether the citizen may still change or cancel online: confirmed, before the cut-off."""
    return appointment.status == Status.CONFIRMED and now <= booking.cancellation_deadline(
        appointment
    )


def can_manage_schedule(user: User) -> bool:
    """Whether the account may change an office's schedule: managers and administrators."""
    return user.role in (Role.MANAGER, Role.ADMIN)


def can_review_bookings(user: User) -> bool:
    """Whether the account may read the review of suspicious bookings (of its offices):
    managers and administrators."""
    return user.role in (Role.MANAGER, Role.ADMIN)


def can_cancel_reviewed_bookings(user: User) -> bool:
    """Whether the account may cancel a cluster of suspicious bookings: administrators."""
    return user.role == Role.ADMIN


TEMPLATE_GLOBALS = {
    "can_recall": can_recall,
    "can_check_in": can_check_in,
    "can_mark_no_show": can_mark_no_show,
    "can_change": can_change,
    "can_manage_schedule": can_manage_schedule,
    "can_review_bookings": can_review_bookings,
    "can_cancel_reviewed_bookings": can_cancel_reviewed_bookings,
}
