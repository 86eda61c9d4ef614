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
from consular.services import booking, desks, queue
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
    # The 09:00 visitor came before the walk-in for a time within the check-in window: she
    # goes first; the 10:00 visitor came far too early and blocks nobody.
    assert order == [urgent.label, "B-002", walk_in.label, "B-001"]


def order_of_calls(office, desk, clerk, clock) -> list[str]:
    """Call and serve everybody at the desk; the labels in the order they were called."""
    order = []
    while (ticket := queue.call_next(db.session, office, desk, clerk, clock())) is not None:
        order.append(ticket.label)
        queue.serve(db.session, ticket, clerk, clock())
    return order


def test_a_walk_in_does_not_pass_a_booked_visitor_who_came_before(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    office.walk_in_share = 50
    at_10_30 = book(office, MONDAY_9 + timedelta(hours=1, minutes=30), next(iins), clock())
    at_10_15 = book(office, MONDAY_9 + timedelta(hours=1, minutes=15), next(iins), clock())
    clock.set(MONDAY_9 + timedelta(hours=1))  # 10:00: she comes for 10:30
    booked = queue.check_in(db.session, at_10_30, clerk, clock())
    clock.advance(minutes=5)
    walk_in = queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    # Placed behind her: at her time, and after her by arrival.
    assert walk_in.queue_at == booked.queue_at == at_10_30.starts_at
    clock.advance(minutes=5)  # 10:10: a visitor for 10:15, who came after the walk-in
    sooner = queue.check_in(db.session, at_10_15, clerk, clock())
    urgent = queue.issue_walk_in(
        db.session, office, office.services[0], clerk, clock(), urgent=True
    )
    assert order_of_calls(office, desk, clerk, clock) == [
        urgent.label,
        sooner.label,
        booked.label,
        walk_in.label,
    ]


def test_a_visitor_far_too_early_does_not_block_walk_ins(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    office.walk_in_share = 50
    afternoon = book(office, MONDAY_9 + timedelta(hours=6), next(iins), clock())
    clock.set(MONDAY_9)
    early = queue.check_in(db.session, afternoon, clerk, clock())
    clock.advance(minutes=5)
    walk_in = queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    assert walk_in.queue_at == clock()
    assert order_of_calls(office, desk, clerk, clock) == [walk_in.label, early.label]


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


def serve_visits(office, desk, clerk, clock, service, minutes: list[int]) -> None:
    """Serve a visitor of the service at the desk for each number of minutes, from now on."""
    for length in minutes:
        queue.issue_walk_in(db.session, office, service, clerk, clock(), urgent=True)
        ticket = queue.call_next(db.session, office, desk, clerk, clock())
        clock.advance(minutes=length)
        queue.serve(db.session, ticket, clerk, clock())
    db.session.commit()


@pytest.fixture
def marriage(office, make_service):
    """A second service of the office, configured at 40 minutes."""
    service = make_service("marriage", duration_minutes=40)
    office.services.append(service)
    db.session.commit()
    return service


def test_no_estimate_while_no_desk_is_at_work(office, clerk, clock):
    make_desks(office, 1)
    clock.set(MONDAY_9)
    queue.issue_walk_in(db.session, office, office.services[0], clerk, clock(), urgent=True)
    assert queue.estimated_wait_minutes(db.session, office, clock()) is None


def test_the_estimate_uses_recent_days_service_times_of_each_service(
    office, clerk, clock, marriage
):
    passport = office.services[0]
    first, second = make_desks(office, 2)
    # Last Wednesday and last Friday: passports take 10 minutes (one took 60: the median
    # is not moved by it), marriages 30.
    for day, lengths in (
        (MONDAY_9 - timedelta(days=5), [10, 60, 10]),
        (MONDAY_9 - timedelta(days=3), [10, 12]),
    ):
        clock.set(day)
        serve_visits(office, first, clerk, clock, passport, lengths)
    clock.set(MONDAY_9 - timedelta(days=3))
    serve_visits(office, second, clerk, clock, marriage, [30, 30, 30])
    # Monday: two passports and a marriage waiting.
    clock.set(MONDAY_9)
    desks.take_desk(db.session, first, clerk, clock(), timedelta(minutes=30))
    for service in (passport, passport, marriage):
        queue.issue_walk_in(db.session, office, service, clerk, clock(), urgent=True)
    # 10 + 10 + 30 minutes at the one desk at work, then shared by two.
    assert queue.estimated_wait_minutes(db.session, office, clock()) == 50
    second_clerk = User(
        email="second@example.org",
        name="Second",
        role=Role.CLERK,
        password_hash=hash_password("x" * 12),
        offices=[office],
    )
    db.session.add(second_clerk)
    db.session.flush()
    desks.take_desk(db.session, second, second_clerk, clock(), timedelta(minutes=30))
    assert queue.estimated_wait_minutes(db.session, office, clock()) == 25
    # A desk that serves only passports: for a passport walk-in, only the passports ahead
    # count, at that one desk; the marriage desk serves everything else.
    second.services = [marriage]
    first.services = [passport]
    db.session.flush()
    assert queue.estimated_wait_minutes(db.session, office, clock(), service=passport) == 20
    assert queue.estimated_wait_minutes(db.session, office, clock(), service=marriage) == 30


def test_too_few_service_times_fall_back_to_the_configured_duration(office, clerk, clock, marriage):
    (desk,) = make_desks(office, 1)
    clock.set(MONDAY_9 - timedelta(days=3))
    serve_visits(office, desk, clerk, clock, marriage, [5, 5])  # two: too few to trust
    clock.set(MONDAY_9)
    desks.take_desk(db.session, desk, clerk, clock(), timedelta(minutes=30))
    queue.issue_walk_in(db.session, office, marriage, clerk, clock(), urgent=True)
    queue.issue_walk_in(db.session, office, office.services[0], clerk, clock(), urgent=True)
    # 40 minutes configured for the marriage, 15 for the passport.
    assert queue.estimated_wait_minutes(db.session, office, clock()) == 55


def test_the_estimate_ignores_check_ins_for_later_appointments(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    afternoon = book(office, MONDAY_9 + timedelta(hours=6), next(iins), clock())
    clock.set(MONDAY_9)
    desks.take_desk(db.session, desk, clerk, clock(), timedelta(minutes=30))
    queue.check_in(db.session, afternoon, clerk, clock())
    # Checked in at 09:00 for 15:00: not ahead of someone who comes now.
    assert queue.estimated_wait_minutes(db.session, office, clock()) == 0


def test_the_estimate_counts_exactly_the_tickets_the_order_puts_ahead(office, clerk, clock, iins):
    (desk,) = make_desks(office, 1)
    office.walk_in_share = 90
    times = [MONDAY_9 + timedelta(minutes=m) for m in (0, 15, 45, 300)]
    visits = [book(office, start, next(iins), clock()) for start in times]
    clock.set(MONDAY_9 - timedelta(minutes=10))
    desks.take_desk(db.session, desk, clerk, clock(), timedelta(minutes=30))
    for visit in visits:
        queue.check_in(db.session, visit, clerk, clock())
    queue.issue_walk_in(db.session, office, office.services[0], clerk, clock(), urgent=True)
    clock.advance(minutes=5)
    queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    # 08:55: the 09:00 and 09:15 visits are within the window, 09:45 and 14:00 are not.
    estimate = queue.estimated_wait_minutes(db.session, office, clock())
    walk_in = queue.issue_walk_in(db.session, office, office.services[0], clerk, clock())
    order = order_of_calls(office, desk, clerk, clock)
    ahead = order.index(walk_in.label)
    assert ahead == 4  # the urgent case, the 09:00 and 09:15 visits, the earlier walk-in
    assert estimate == ahead * 15


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
    serve_visits(office, desk, clerk, clock, office.services[0], [4, 4])
    # Four minutes each at one desk, one waiting: four minutes (not nine hours less).
    assert queue.estimated_wait_minutes(db.session, office, clock()) == 4
