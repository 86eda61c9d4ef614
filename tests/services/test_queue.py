"""The day's queue: check-in, walk-ins, calling, recall, missed, park, transfer, serve,
no-shows, and "call next" from many clerks at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import (
    Appointment,
    AuditEntry,
    Desk,
    Role,
    Status,
    Ticket,
    TicketStatus,
    User,
)
from consular.services import booking, queue
from consular.services.errors import InvalidState
from consular.services.passwords import hash_password
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul


@pytest.fixture
def office(make_office, make_service):
    service = make_service("passport-renewal", duration_minutes=15)
    office = make_office("busan", desks=3, services=[service])
    office.ticket_prefix = "B"
    db.session.commit()
    return office


@pytest.fixture
def clerk(office) -> User:
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


def make_desks(office, count: int) -> list[Desk]:
    desks = [Desk(office=office, name=str(n)) for n in range(1, count + 1)]
    db.session.add_all(desks)
    db.session.commit()
    return desks


def book(office, start, iin, now) -> Appointment:
    body = booking_body(office, [office.services[0]], start, applicant={"iin": iin})
    request = booking.parse_booking_request(db.session, body, now, POLICY)
    placed = booking.place_hold(db.session, request, now, POLICY)
    booking.confirm_hold(db.session, placed.appointment, placed.code, now, POLICY)
    db.session.commit()
    return placed.appointment


def test_check_in_issues_numbered_tickets_and_flags_early_and_late(office, clerk, clock, iins):
    early = book(office, MONDAY_9 + timedelta(hours=2), next(iins), clock())
    on_time = book(office, MONDAY_9, next(iins), clock())
    clock.set(MONDAY_9 - timedelta(minutes=5))
    first = queue.check_in(db.session, on_time, clerk, clock())
    second = queue.check_in(db.session, early, clerk, clock())
    assert (first.label, second.label) == ("B-001", "B-002")
    assert first.note == "" and second.note == "early"
    assert on_time.status == Status.CHECKED_IN and on_time.checked_in_at == clock()
    with pytest.raises(InvalidState):
        queue.check_in(db.session, on_time, clerk, clock())  # only once
    late = book(office, MONDAY_9 + timedelta(minutes=30), next(iins), MONDAY_9 - timedelta(days=1))
    clock.set(MONDAY_9 + timedelta(minutes=45))
    assert queue.check_in(db.session, late, clerk, clock()).note == "late"


def test_an_appointment_of_another_day_cannot_be_checked_in(office, clerk, clock, iins):
    appointment = book(office, MONDAY_9 + timedelta(days=1), next(iins), clock())
    clock.set(MONDAY_9)
    with pytest.raises(InvalidState):
        queue.check_in(db.session, appointment, clerk, clock())


def test_call_order_is_priority_then_appointment_time_then_arrival(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    later = book(office, MONDAY_9 + timedelta(hours=1), next(iins), clock())
    sooner = book(office, MONDAY_9, next(iins), clock())
    office.walk_in_share = 50
    db.session.commit()
    clock.set(MONDAY_9 - timedelta(minutes=20))
    queue.check_in(db.session, later, clerk, clock())
    queue.check_in(db.session, sooner, clerk, clock())
    clock.advance(minutes=1)
    walk_in = queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    urgent = queue.issue_walk_in(
        db.session, office, office.services[0], clerk, clock(), urgent=True
    )
    order = []
    while (ticket := queue.call_next(db.session, office, desk, clerk, clock())) is not None:
        order.append(ticket.label)
        queue.serve(db.session, ticket, clerk, clock())
    assert order == [urgent.label, walk_in.label, "B-002", "B-001"]


def test_walk_ins_stay_within_the_offices_share(office, clerk, clock):
    clock.set(MONDAY_9)
    with pytest.raises(InvalidState):
        queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    office.walk_in_share = 10
    db.session.commit()
    allowance = queue.walk_in_allowance(db.session, office, clock())
    assert allowance > 0
    for _ in range(allowance):
        queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    with pytest.raises(InvalidState):
        queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    urgent = queue.issue_walk_in(
        db.session, office, office.services[0], clerk, clock(), urgent=True
    )
    assert urgent.is_priority


def test_recall_three_times_then_missed_and_resume(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    appointment = book(office, MONDAY_9, next(iins), clock())
    clock.set(MONDAY_9)
    queue.check_in(db.session, appointment, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    assert ticket.call_count == 1 and appointment.status == Status.CALLED
    queue.recall(db.session, ticket, clerk, clock())
    queue.recall(db.session, ticket, clerk, clock())
    assert ticket.call_count == 3 and ticket.status == TicketStatus.CALLED
    assert not queue.can_recall(ticket)
    queue.recall(db.session, ticket, clerk, clock())
    assert ticket.status == TicketStatus.MISSED and ticket.call_count == 3
    assert appointment.status == Status.NO_SHOW
    queue.resume(db.session, ticket, clerk, clock())
    assert ticket.status == TicketStatus.WAITING and ticket.call_count == 0
    assert appointment.status == Status.CHECKED_IN


def test_park_transfer_and_serve(office, clerk, clock, make_service, iins):
    (desk,) = make_desks(office, 1)
    other = make_service("birth-registration")
    appointment = book(office, MONDAY_9, next(iins), clock())
    clock.set(MONDAY_9)
    queue.check_in(db.session, appointment, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    queue.park(db.session, ticket, clerk, clock())
    assert queue.call_next(db.session, office, desk, clerk, clock()) is None
    queue.resume(db.session, ticket, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    queue.transfer(db.session, ticket, clerk, clock(), service=other)
    assert ticket.status == TicketStatus.WAITING and ticket.service_type_id == other.id
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    queue.serve(db.session, ticket, clerk, clock())
    db.session.refresh(appointment)
    assert appointment.status == Status.SERVED and appointment.served_at == clock()
    with pytest.raises(InvalidState):
        queue.serve(db.session, ticket, clerk, clock())
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == [
        "check_in",
        "call",
        "park",
        "resume",
        "call",
        "transfer",
        "call",
        "served",
    ]


def test_close_day_marks_absent_visitors_as_no_shows(office, clerk, clock, iins):
    came = book(office, MONDAY_9, next(iins), clock())
    absent = book(office, MONDAY_9 + timedelta(hours=1), next(iins), clock())
    clock.set(MONDAY_9)
    queue.check_in(db.session, came, clerk, clock())
    clock.set(MONDAY_9 + timedelta(hours=9))
    assert queue.close_day(db.session, office, MONDAY_9.date(), clock()) == (1, 1)
    db.session.refresh(absent)
    assert absent.status == Status.NO_SHOW and absent.no_show_at == clock()
    # The visitor who came but was never called: the ticket is missed, the visit ended.
    db.session.refresh(came)
    assert came.status == Status.NO_SHOW
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.appointment_id == came.id))
    assert ticket.status == TicketStatus.MISSED and ticket.finished_at == clock()
    assert not any(line.is_active for line in came.service_lines + absent.service_lines)
    assert queue.close_day(db.session, office, MONDAY_9.date(), clock()) == (0, 0)


def test_ten_clerks_calling_at_once_never_get_the_same_ticket(app, office, clerk, clock):
    desks = make_desks(office, 10)
    office.walk_in_share = 90
    db.session.commit()
    clock.set(MONDAY_9)
    for _ in range(25):
        queue.issue_walk_in(db.session, office, office.services[0], clerk, clock(), urgent=True)
    db.session.commit()
    office_id, clerk_id, desk_ids = office.id, clerk.id, [d.id for d in desks]
    # End this thread's transaction: on SQLite it would hold the write lock.
    db.session.close()
    barrier = threading.Barrier(len(desk_ids))
    called: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(desk_id: int) -> None:
        try:
            with app.app_context():
                session = db.session
                local_office = session.get(type(office), office_id)
                desk = session.get(Desk, desk_id)
                actor = session.get(User, clerk_id)
                session.commit()  # wait at the barrier without holding SQLite's write lock
                barrier.wait(timeout=30)
                for _ in range(5):
                    ticket = queue.call_next(session, local_office, desk, actor, clock())
                    session.commit()
                    if ticket is None:
                        break
                    with lock:
                        called.append(ticket.id)
                    # One visitor at a desk: served before the desk calls again.
                    queue.serve(session, ticket, actor, clock())
                    session.commit()
                session.remove()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(d,)) for d in desk_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(called) == len(set(called)) == 25
    statuses = db.session.scalars(sa.select(Ticket.status)).all()
    assert set(statuses) == {TicketStatus.SERVED}


def test_a_ticket_transferred_to_a_desk_is_called_only_there(office, clerk, clock):
    first, second = make_desks(office, 2)
    office.walk_in_share = 50
    db.session.commit()
    clock.set(MONDAY_9)
    ticket = queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    called = queue.call_next(db.session, office, first, clerk, clock())
    assert called.id == ticket.id
    queue.transfer(db.session, called, clerk, clock(), desk=second)
    other = queue.call_next(db.session, office, first, clerk, clock())
    assert other.id != ticket.id  # the first desk takes the next visitor instead
    again = queue.call_next(db.session, office, second, clerk, clock())
    assert again.id == ticket.id and again.desk_id == second.id


def test_close_day_command(app, office, clerk, clock, iins):
    book(office, MONDAY_9, next(iins), clock())
    clock.set(MONDAY_9 + timedelta(hours=9))
    result = app.test_cli_runner().invoke(args=["queue", "close-day", "--office", "busan"])
    assert result.exit_code == 0 and "1 no-shows" in result.output


def test_estimated_wait_comes_from_the_days_real_service_times(office, clerk, clock):
    first, second = make_desks(office, 2)
    office.walk_in_share = 90
    db.session.commit()
    clock.set(MONDAY_9)
    assert queue.estimated_wait_minutes(db.session, office, clock()) is None
    for _ in range(6):
        queue.issue_walk_in(db.session, office, office.services[0], clerk, clock(), urgent=True)
    for desk, minutes in ((first, 10), (second, 20)):
        ticket = queue.call_next(db.session, office, desk, clerk, clock())
        clock.advance(minutes=minutes)
        queue.serve(db.session, ticket, clerk, clock())
        clock.set(MONDAY_9)
    # Average 15 minutes, 4 waiting, 2 desks at work: 30 minutes.
    assert queue.estimated_wait_minutes(db.session, office, clock()) == 30


def test_the_first_call_is_stored_in_utc_whatever_the_clocks_zone(office, clerk, clock):
    (desk,) = make_desks(office, 1)
    office.walk_in_share = 90
    db.session.commit()
    # 09:00 in Seoul, given with Seoul's offset (as the browser tests' clock does).
    clock.set(MONDAY_9.astimezone(office.zone))
    ticket = queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    queue.call_next(db.session, office, desk, clerk, clock())
    db.session.commit()
    db.session.expire_all()
    assert ticket.first_called_at == MONDAY_9
    clock.advance(minutes=4)
    queue.serve(db.session, ticket, clerk, clock())
    # Four minutes at one desk, one waiting: four minutes (not nine hours less).
    assert queue.estimated_wait_minutes(db.session, office, clock()) == 4
