"""Every end of a visit goes through the appointment's transitions, and the queue's counts
are decided in the database: closing the day, recalling, walk-ins issued at once, and the
slots a closure removes."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from consular.extensions import db
from consular.models import (
    AppointmentService,
    Office,
    ServiceType,
    Slot,
    Status,
    Ticket,
    TicketStatus,
    User,
    appointment_slot,
)
from consular.services import booking, queue, retention, schedule
from consular.services.errors import InvalidState
from tests.services.test_queue import MONDAY_9, POLICY, book, clerk, make_desks, office

__all__ = ["clerk", "office"]  # fixtures shared with test_queue


def test_closing_the_day_ends_visits_left_checked_in_or_at_a_desk(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    waiting_iin, called_iin = next(iins), next(iins)
    called = book(office, MONDAY_9, called_iin, clock())
    waiting = book(office, MONDAY_9 + timedelta(minutes=15), waiting_iin, clock())
    clock.set(MONDAY_9)
    queue.check_in(db.session, called, clerk, clock())
    queue.check_in(db.session, waiting, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    assert ticket.appointment_id == called.id
    db.session.commit()
    clock.set(MONDAY_9 + timedelta(hours=9))

    assert queue.close_day(db.session, office, date(2026, 11, 30), clock()) == (0, 2)
    db.session.commit()

    for appointment in (waiting, called):
        db.session.refresh(appointment)
        assert appointment.status == Status.NO_SHOW and appointment.no_show_at == clock()
        lines = db.session.scalars(
            sa.select(AppointmentService.is_active).where(
                AppointmentService.appointment_id == appointment.id
            )
        ).all()
        assert lines == [False]
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.MISSED
    # The person may book the service again, and the purge treats the visit as finished.
    assert queue.close_day(db.session, office, date(2026, 11, 30), clock()) == (0, 0)
    rebooked = book(office, MONDAY_9 + timedelta(days=2), called_iin, clock())
    assert rebooked.status == Status.CONFIRMED
    assert Status.NO_SHOW in retention.FINISHED_STATUSES


def test_a_second_clerk_with_a_stale_ticket_never_calls_a_fourth_time(
    office, clerk, clock, iins
) -> None:
    (desk,) = make_desks(office, 1)
    appointment = book(office, MONDAY_9, next(iins), clock())
    clock.set(MONDAY_9)
    queue.check_in(db.session, appointment, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    queue.recall(db.session, ticket, clerk, clock())
    assert ticket.call_count == 2
    ticket_id, clerk_id = ticket.id, clerk.id
    db.session.commit()

    with Session(db.engine, expire_on_commit=False) as other:
        stale = other.get(Ticket, ticket_id)
        other_clerk = other.get(User, clerk_id)
        assert stale.call_count == 2
        other.commit()  # SQLite: don't hold the write lock while the first clerk acts
        queue.recall(db.session, ticket, clerk, clock())  # the third call
        db.session.commit()
        # The second clerk's page still says two calls: pressing "call again" now is the
        # press after the third call, which marks the visitor missed, never a fourth call.
        queue.recall(other, stale, other_clerk, clock())
        other.commit()

    db.session.refresh(ticket)
    assert ticket.call_count == queue.MAX_CALLS
    assert ticket.status == TicketStatus.MISSED
    db.session.refresh(appointment)
    assert appointment.status == Status.NO_SHOW


def test_clerks_issuing_walk_ins_at_once_never_pass_the_allowance(app, office, clerk, clock):
    office.walk_in_share = 2  # 2 % of the day's desk-slots: one base slot
    db.session.commit()
    clock.set(MONDAY_9)
    assert queue.walk_in_allowance(db.session, office, clock()) == 2
    first = queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    assert first.is_walk_in
    # The first clerk's second walk-in is not committed yet when the second clerk issues one.
    queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    outcome: list[str] = []
    office_id, service_id, clerk_id = office.id, office.services[0].id, clerk.id

    def second_clerk() -> None:
        with app.app_context(), Session(db.engine) as session:
            try:
                queue.issue_walk_in(
                    session,
                    session.get(Office, office_id),
                    session.get(ServiceType, service_id),
                    session.get(User, clerk_id),
                    clock(),
                )
                session.commit()
                outcome.append("issued")
            except InvalidState:
                session.rollback()
                outcome.append("refused")

    thread = threading.Thread(target=second_clerk)
    thread.start()
    thread.join(1)  # it waits for the first clerk's transaction (a lock on the day's counter)
    db.session.commit()
    thread.join(30)
    assert outcome == ["refused"]
    assert queue.walk_ins_used(db.session, office, clock()) == 2
    with pytest.raises(InvalidState):
        queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    db.session.rollback()


def test_a_closure_removes_slots_whose_seats_were_given_back(office, clerk, clock, iins):
    """A cancelled seat given back leaves a row in the slot: closing the day still works."""
    monday = book(office, MONDAY_9 + timedelta(days=7), next(iins), clock())
    booking.cancel_appointment(db.session, monday, "", clock(), POLICY)
    db.session.commit()
    clock.advance(minutes=POLICY.release_delay_minutes + 1)
    again = book(office, MONDAY_9 + timedelta(days=7), next(iins), clock())  # seat given back
    booking.cancel_appointment(db.session, again, "", clock(), POLICY)
    db.session.commit()
    clock.advance(minutes=POLICY.release_delay_minutes + 1)
    slot_id = db.session.scalar(
        sa.select(Slot.id).where(
            Slot.office_id == office.id, Slot.starts_at == MONDAY_9 + timedelta(days=7)
        )
    )
    rows = db.session.execute(
        sa.select(appointment_slot.c.holds_seat).where(appointment_slot.c.slot_id == slot_id)
    ).all()
    assert sorted(row.holds_seat for row in rows) == [False, True]  # one given back, one due

    day = (MONDAY_9 + timedelta(days=7)).astimezone(office.zone).date()
    schedule.add_closure(db.session, office, day, day, "Staff training", clerk, clock(), 60)
    db.session.commit()

    assert db.session.get(Slot, slot_id) is None
    assert (
        db.session.execute(
            sa.select(appointment_slot).where(appointment_slot.c.slot_id == slot_id)
        ).all()
        == []
    )
