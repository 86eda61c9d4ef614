"""A desk serves one visitor at a time and is worked by one clerk at a time: calling while a
visitor is at the desk, the database's own refusal of a second call, two clerks racing to
one desk, calling a particular ticket, the services a desk serves, and no-shows only once
the visit's time and the grace period have passed (and their undo)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consular.extensions import db
from consular.models import (
    AppointmentService,
    AuditEntry,
    Desk,
    DeskClaim,
    Office,
    Role,
    Status,
    Ticket,
    TicketStatus,
    User,
)
from consular.services import desks, queue
from consular.services.errors import InvalidState
from consular.services.passwords import hash_password
from tests.services.test_queue import MONDAY_9, book, clerk, make_desks, office

__all__ = ["clerk", "office"]  # fixtures shared with test_queue

IDLE = timedelta(minutes=30)
GRACE = timedelta(minutes=15)


def _walk_ins(office, clerk, clock, count: int) -> list[Ticket]:
    return [
        queue.issue_walk_in(db.session, office, office.services[0], clerk, clock(), urgent=True)
        for _ in range(count)
    ]


def _audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


# One visitor at a desk


def test_call_next_while_a_visitor_is_at_the_desk_asks_to_finish_them_first(office, clerk, clock):
    (desk,) = make_desks(office, 1)
    clock.set(MONDAY_9)
    first, second = _walk_ins(office, clerk, clock, 2)
    assert queue.call_next(db.session, office, desk, clerk, clock()).id == first.id
    audited = _audit_count()
    with pytest.raises(queue.DeskBusy, match="Ticket B-001 is still at desk 1"):
        queue.call_next(db.session, office, desk, clerk, clock())
    with pytest.raises(queue.DeskBusy):
        queue.call_ticket(db.session, office, desk, second, clerk, clock())
    db.session.refresh(second)
    assert second.status == TicketStatus.WAITING and second.desk_id is None
    assert _audit_count() == audited  # nothing changed
    # Parked, served or transferred, the desk calls again.
    queue.park(db.session, first, clerk, clock())
    assert queue.call_next(db.session, office, desk, clerk, clock()).id == second.id


def test_the_database_refuses_a_second_called_ticket_at_a_desk(office, clerk, clock):
    (desk,) = make_desks(office, 1)
    clock.set(MONDAY_9)
    first, second = _walk_ins(office, clerk, clock, 2)
    queue.call_next(db.session, office, desk, clerk, clock())
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(
            sa.update(Ticket)
            .where(Ticket.id == second.id)
            .values(status=TicketStatus.CALLED, desk_id=desk.id)
        )
    db.session.rollback()
    # Another day's called ticket at the desk (a day left open) is no obstacle.
    db.session.execute(
        sa.update(Ticket)
        .where(Ticket.id == first.id)
        .values(service_day=MONDAY_9.date() - timedelta(days=1))
    )
    db.session.execute(
        sa.update(Ticket)
        .where(Ticket.id == second.id)
        .values(status=TicketStatus.CALLED, desk_id=desk.id)
    )
    called = sa.select(sa.func.count()).where(Ticket.status == TicketStatus.CALLED)
    assert db.session.scalar(called) == 2
    db.session.rollback()


def test_a_call_that_passed_the_check_is_refused_by_the_index_as_desk_busy(
    office, clerk, clock, monkeypatch
):
    """The check in Python can race; the unique index can't, and its refusal is the same
    friendly message (the transaction goes on: the refused call was in a savepoint)."""
    (desk,) = make_desks(office, 1)
    clock.set(MONDAY_9)
    first, second = _walk_ins(office, clerk, clock, 2)
    queue.call_next(db.session, office, desk, clerk, clock())
    checks = iter([None])
    real = queue.visitor_at_desk
    monkeypatch.setattr(queue, "visitor_at_desk", lambda *args: next(checks, None) or real(*args))
    with pytest.raises(queue.DeskBusy, match="Ticket B-001 is still at desk 1"):
        queue.call_ticket(db.session, office, desk, second, clerk, clock())
    db.session.refresh(second)
    assert second.status == TicketStatus.WAITING
    db.session.commit()  # the transaction is still usable
    assert db.session.get(Ticket, first.id).status == TicketStatus.CALLED


def test_two_calls_racing_to_one_desk_leave_one_visitor_there(app, office, clerk, clock):
    """The first clerk's call is not committed yet when a second call to the same desk
    comes (a second tab, a double click): it waits, then is refused."""
    (desk,) = make_desks(office, 1)
    clock.set(MONDAY_9)
    _walk_ins(office, clerk, clock, 3)
    db.session.commit()
    first = queue.call_next(db.session, office, desk, clerk, clock())
    outcome: list[str] = []
    office_id, desk_id, clerk_id = office.id, desk.id, clerk.id

    def second_call() -> None:
        with app.app_context(), Session(db.engine) as session:
            try:
                queue.call_next(
                    session,
                    session.get(Office, office_id),
                    session.get(Desk, desk_id),
                    session.get(User, clerk_id),
                    clock(),
                )
                session.commit()
                outcome.append("called")
            except queue.DeskBusy:
                session.rollback()
                outcome.append("refused")

    thread = threading.Thread(target=second_call)
    thread.start()
    thread.join(1)  # it waits for the first call's transaction
    db.session.commit()
    thread.join(30)
    assert outcome == ["refused"]
    called = db.session.scalars(
        sa.select(Ticket.id).where(Ticket.status == TicketStatus.CALLED)
    ).all()
    assert called == [first.id]


# Calling a particular ticket, and the services a desk serves


def test_a_clerk_can_call_a_particular_waiting_ticket(office, clerk, clock):
    first_desk, second_desk = make_desks(office, 2)
    clock.set(MONDAY_9)
    first, second, third = _walk_ins(office, clerk, clock, 3)
    assert queue.call_ticket(db.session, office, first_desk, third, clerk, clock()).id == third.id
    assert third.desk_id == first_desk.id and third.status == TicketStatus.CALLED
    with pytest.raises(InvalidState):  # called already
        queue.call_ticket(db.session, office, second_desk, third, clerk, clock())
    # A ticket transferred to one desk can't be picked by another.
    queue.transfer(db.session, third, clerk, clock(), desk=first_desk)
    with pytest.raises(InvalidState, match="can't be called to desk 2"):
        queue.call_ticket(db.session, office, second_desk, third, clerk, clock())
    assert queue.call_next(db.session, office, second_desk, clerk, clock()).id == first.id
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["walk_in"] * 3 + ["call", "transfer", "call"]


def test_a_desk_calls_only_the_services_it_serves(office, clerk, clock, make_service):
    passport = office.services[0]
    birth = make_service("birth-registration")
    office.services.append(birth)
    office.walk_in_share = 50
    any_desk, birth_desk = make_desks(office, 2)
    birth_desk.services = [birth]
    db.session.commit()
    clock.set(MONDAY_9)
    for_passport = queue.issue_walk_in(db.session, office, passport, clerk, clock(), urgent=True)
    for_birth = queue.issue_walk_in(db.session, office, birth, clerk, clock(), urgent=True)
    with pytest.raises(InvalidState):
        queue.call_ticket(db.session, office, birth_desk, for_passport, clerk, clock())
    assert queue.call_next(db.session, office, birth_desk, clerk, clock()).id == for_birth.id
    queue.serve(db.session, for_birth, clerk, clock())
    assert queue.call_next(db.session, office, birth_desk, clerk, clock()) is None
    assert queue.call_next(db.session, office, any_desk, clerk, clock()).id == for_passport.id


# Desks and clerks


@pytest.fixture
def second_clerk(office) -> User:
    user = User(
        email="second@example.org",
        name="Second Clerk",
        role=Role.CLERK,
        password_hash=hash_password("x" * 12),
        offices=[office],
    )
    db.session.add(user)
    db.session.commit()
    return user


def test_a_desk_is_one_clerks_until_they_leave_it_sign_out_or_are_idle(
    office, clerk, second_clerk, clock
):
    first_desk, second_desk = make_desks(office, 2)
    clock.set(MONDAY_9)
    desks.take_desk(db.session, first_desk, clerk, clock(), IDLE)
    assert desks.held_desk(db.session, office, clerk) == first_desk
    with pytest.raises(desks.DeskTaken, match="Desk 1 is taken by Clerk"):
        desks.take_desk(db.session, first_desk, second_clerk, clock(), IDLE)
    # Choosing another desk leaves the first one.
    desks.take_desk(db.session, second_desk, clerk, clock(), IDLE)
    assert desks.held_desk(db.session, office, clerk) == second_desk
    desks.take_desk(db.session, first_desk, second_clerk, clock(), IDLE)
    # Each action renews the claim; idle longer than the limit, the desk is free.
    clock.advance(minutes=29)
    assert desks.work_at_desk(db.session, office, clerk, clock()) == second_desk
    clock.advance(minutes=29)
    with pytest.raises(desks.DeskTaken):
        desks.take_desk(db.session, second_desk, second_clerk, clock(), IDLE)
    clock.advance(minutes=2)
    desks.take_desk(db.session, second_desk, second_clerk, clock(), IDLE)
    assert desks.held_desk(db.session, office, clerk) is None
    with pytest.raises(InvalidState, match="Choose your desk first"):
        desks.work_at_desk(db.session, office, clerk, clock())
    # Signing out (the account's sessions end) frees the desk at once.
    second_clerk.session_version += 1
    db.session.flush()
    assert desks.held_desk(db.session, office, second_clerk) is None
    desks.take_desk(db.session, second_desk, clerk, clock(), IDLE)
    # Leaving frees it too.
    assert desks.leave_desk(db.session, office, clerk)
    desks.take_desk(db.session, second_desk, second_clerk, clock(), IDLE)
    holders = db.session.execute(sa.select(DeskClaim.desk_id, DeskClaim.clerk_id)).all()
    assert sorted(holders) == [(second_desk.id, second_clerk.id)]


def test_two_clerks_choosing_one_desk_at_once_get_it_once(app, office, clerk, second_clerk, clock):
    (desk,) = make_desks(office, 1)
    clock.set(MONDAY_9)
    desks.take_desk(db.session, desk, clerk, clock(), IDLE)
    outcome: list[str] = []
    desk_id, clerk_id = desk.id, second_clerk.id

    def other_clerk() -> None:
        with app.app_context(), Session(db.engine) as session:
            try:
                desks.take_desk(
                    session, session.get(Desk, desk_id), session.get(User, clerk_id), clock(), IDLE
                )
                session.commit()
                outcome.append("taken")
            except desks.DeskTaken:
                session.rollback()
                outcome.append("refused")

    thread = threading.Thread(target=other_clerk)
    thread.start()
    thread.join(1)  # it waits for the first clerk's transaction
    db.session.commit()
    thread.join(30)
    assert outcome == ["refused"]
    assert db.session.scalar(sa.select(DeskClaim.clerk_id)) == clerk.id


# No-shows


def test_a_no_show_only_after_the_visits_time_and_the_grace(office, clerk, clock, iins):
    appointment = book(office, MONDAY_9, next(iins), clock())
    clock.set(MONDAY_9 - timedelta(hours=5))
    for moment in (MONDAY_9 - timedelta(hours=5), MONDAY_9, MONDAY_9 + timedelta(minutes=14)):
        clock.set(moment)
        assert not queue.can_mark_no_show_at(
            appointment.status, appointment.starts_at, moment, GRACE
        )
        with pytest.raises(InvalidState, match="from 09:15"):
            queue.mark_no_show(db.session, appointment, clerk, clock(), grace=GRACE)
    assert appointment.status == Status.CONFIRMED
    clock.set(MONDAY_9 + GRACE)
    queue.mark_no_show(db.session, appointment, clerk, clock(), grace=GRACE)
    assert appointment.status == Status.NO_SHOW


def test_undoing_a_no_show_restores_the_confirmed_visit(office, clerk, clock, iins):
    appointment = book(office, MONDAY_9, next(iins), clock())
    confirmed_at = appointment.confirmed_at
    clock.set(MONDAY_9 + timedelta(minutes=20))
    queue.mark_no_show(db.session, appointment, clerk, clock(), grace=GRACE)
    lines = db.session.scalars(
        sa.select(AppointmentService.is_active).where(
            AppointmentService.appointment_id == appointment.id
        )
    ).all()
    assert lines == [False]
    clock.advance(minutes=5)
    queue.undo_no_show(db.session, appointment, clerk, clock())
    assert appointment.status == Status.CONFIRMED and appointment.no_show_at is None
    assert appointment.confirmed_at == confirmed_at
    lines = db.session.scalars(
        sa.select(AppointmentService.is_active).where(
            AppointmentService.appointment_id == appointment.id
        )
    ).all()
    assert lines == [True]
    with pytest.raises(InvalidState):
        queue.undo_no_show(db.session, appointment, clerk, clock())  # once
    # The visitor came after all: checked in as usual.
    assert queue.check_in(db.session, appointment, clerk, clock()).note == "late"
    entries = db.session.execute(
        sa.select(AuditEntry.action, AuditEntry.before, AuditEntry.after).order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries][-3:] == ["no_show", "undo_no_show", "check_in"]
    assert entries[-2].before == {"status": "no_show"}
    assert entries[-2].after == {"status": "confirmed"}


def test_a_no_show_of_another_day_or_of_a_missed_ticket_is_not_undone(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    absent = book(office, MONDAY_9, next(iins), clock())
    called = book(office, MONDAY_9 + timedelta(minutes=15), next(iins), clock())
    clock.set(MONDAY_9 + timedelta(minutes=20))
    queue.check_in(db.session, called, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    for _call in range(queue.MAX_CALLS):
        queue.recall(db.session, ticket, clerk, clock())
    db.session.refresh(called)
    assert called.status == Status.NO_SHOW
    with pytest.raises(InvalidState):  # its ticket goes back to the queue instead
        queue.undo_no_show(db.session, called, clerk, clock())
    queue.mark_no_show(db.session, absent, clerk, clock(), grace=GRACE)
    clock.advance(days=1)
    with pytest.raises(InvalidState):
        queue.undo_no_show(db.session, absent, clerk, clock())
