"""The guards that decide whether a seat can be taken, read top to bottom as a specification.

Each guard is pinned exactly at its boundary: the instant a notice period ends, the last
day of the horizon, the moment a cancelled seat or an expired hold becomes free, the last
seat of a slot. Each test passes as the code is and fails when its guard is removed or
moved by one unit (one microsecond, one day, one seat). They go through the public
services (parse and place a hold, list the start times, cancel, confirm) wherever those
can see the guard, and call the seat functions themselves only where nothing above can.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, Office, ServiceType, Slot, Status, appointment_slot
from consular.services import booking, seats
from consular.services.availability import VisitRules, visit_start_times
from consular.services.errors import (
    DuplicateBooking,
    HoldExpired,
    SlotUnavailable,
    ValidationFailed,
)
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET, hold_minutes=10, release_delay_minutes=30)
# The clock starts on Sunday 2026-11-29 at 12:00 in Seoul (03:00 UTC).
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Monday 09:00 in Seoul
QUARTER = timedelta(minutes=15)
MICROSECOND = timedelta(microseconds=1)
HOLD = timedelta(minutes=POLICY.hold_minutes)
RELEASE_DELAY = timedelta(minutes=POLICY.release_delay_minutes)


@pytest.fixture
def people(iins: Iterator[str]) -> Iterator[str]:
    """Valid IINs, a different person each time."""
    return iins


def hold(
    office: Office, services: list[ServiceType], start: datetime, now: datetime, iin: str
) -> booking.HoldPlaced:
    """Hold a visit through the same parsing the API and the booking pages use."""
    body = booking_body(office, services, start, applicant={"iin": iin})
    request = booking.parse_booking_request(db.session, body, now, POLICY)
    return booking.place_hold(db.session, request, now, POLICY)


def offered(
    office: Office, services: list[ServiceType], now: datetime, days: int = 0
) -> dict[datetime, int]:
    """The start times offered from Monday on (for `days` more days), with their free seats."""
    first_day = MONDAY_9.astimezone(office.zone).date()
    return {
        option.starts_at: option.available
        for option in visit_start_times(
            db.session,
            office,
            VisitRules.for_services(services),
            first_day,
            first_day + timedelta(days=days),
            now,
        )
    }


def slot_at(office: Office, start: datetime) -> Slot:
    """The office's slot starting then, as the database has it now."""
    slot = db.session.scalar(
        sa.select(Slot).where(Slot.office_id == office.id, Slot.starts_at == start)
    )
    assert slot is not None
    db.session.refresh(slot)
    return slot


def seat_of(appointment: Appointment) -> Any:
    """The appointment's one row of appointment_slot."""
    return db.session.execute(
        sa.select(appointment_slot).where(appointment_slot.c.appointment_id == appointment.id)
    ).one()


def assert_seats_add_up(office: Office) -> None:
    """Every slot counts exactly the seats held in it, and never more than its capacity."""
    held = (
        sa.select(sa.func.count())
        .select_from(appointment_slot)
        .where(appointment_slot.c.slot_id == Slot.id, appointment_slot.c.holds_seat.is_(True))
        .scalar_subquery()
    )
    wrong = db.session.execute(
        sa.select(Slot.starts_at, Slot.booked, Slot.capacity, held.label("held")).where(
            Slot.office_id == office.id, sa.or_(Slot.booked != held, Slot.booked > Slot.capacity)
        )
    ).all()
    assert not wrong, wrong


def too_soon(error: ValidationFailed) -> bool:
    return any("too soon" in message for message in error.fields["start"])


def too_far(error: ValidationFailed) -> bool:
    return any("too far ahead" in message for message in error.fields["start"])


# Minimum notice: a visit may start exactly `min_notice` after now, not a microsecond sooner.
# Slot starts lie on the grid, so the clock moves to the boundary instead.


@pytest.fixture
def two_hours_notice(make_office, make_service) -> tuple[Office, ServiceType]:
    service = make_service(min_notice_hours=2)
    return make_office(desks=1, services=[service]), service


def test_a_start_exactly_the_notice_away_is_offered_and_can_be_held(
    two_hours_notice, people
) -> None:
    office, service = two_hours_notice
    now = MONDAY_9 - timedelta(hours=2)
    assert min(offered(office, [service], now)) == MONDAY_9
    placed = hold(office, [service], MONDAY_9, now, next(people))
    assert placed.appointment.starts_at == MONDAY_9
    assert slot_at(office, MONDAY_9).booked == 1


def test_a_microsecond_later_that_start_is_too_soon(two_hours_notice, people) -> None:
    office, service = two_hours_notice
    now = MONDAY_9 - timedelta(hours=2) + MICROSECOND
    assert min(offered(office, [service], now)) == MONDAY_9 + QUARTER
    with pytest.raises(ValidationFailed) as error:
        hold(office, [service], MONDAY_9, now, next(people))
    assert too_soon(error.value) and not too_far(error.value)
    assert slot_at(office, MONDAY_9).booked == 0


# Booking horizon: the last day of the horizon is bookable to its last slot, the next day is
# not. Days are the office's local days: at 00:30 on Sunday in Seoul it is still Saturday in
# UTC, and an 8-day horizon reaches Monday 7 December, not Sunday 6.


@pytest.fixture
def eight_days_ahead(make_office, make_service) -> tuple[Office, ServiceType]:
    service = make_service(horizon_days=8)
    return make_office(desks=1, services=[service]), service


SUNDAY_0030 = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # Sunday 29 November, 00:30 in Seoul
LAST_DAY_LAST_SLOT = datetime(2026, 12, 7, 7, 45, tzinfo=UTC)  # Monday 7 December, 16:45
NEXT_DAY_FIRST_SLOT = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # Tuesday 8 December, 09:00


def test_the_last_slot_of_the_last_horizon_day_is_offered_and_can_be_held(
    eight_days_ahead, people
) -> None:
    office, service = eight_days_ahead
    starts = offered(office, [service], SUNDAY_0030, days=30)
    assert max(starts) == LAST_DAY_LAST_SLOT
    placed = hold(office, [service], LAST_DAY_LAST_SLOT, SUNDAY_0030, next(people))
    assert placed.appointment.starts_at == LAST_DAY_LAST_SLOT


def test_the_first_slot_of_the_day_after_the_horizon_is_too_far_ahead(
    eight_days_ahead, people
) -> None:
    office, service = eight_days_ahead
    assert NEXT_DAY_FIRST_SLOT not in offered(office, [service], SUNDAY_0030, days=30)
    with pytest.raises(ValidationFailed) as error:
        hold(office, [service], NEXT_DAY_FIRST_SLOT, SUNDAY_0030, next(people))
    assert too_far(error.value)
    assert slot_at(office, NEXT_DAY_FIRST_SLOT).booked == 0


# Capacity: the last seat of a slot can be taken, one more cannot.


def test_a_slot_gives_exactly_its_capacity_of_seats(
    make_office, make_service, clock, people
) -> None:
    service = make_service()
    office = make_office(desks=2, services=[service])
    now = clock()
    assert offered(office, [service], now)[MONDAY_9] == 2
    hold(office, [service], MONDAY_9, now, next(people))
    assert offered(office, [service], now)[MONDAY_9] == 1
    hold(office, [service], MONDAY_9, now, next(people))  # the last seat
    assert offered(office, [service], now)[MONDAY_9] == 0
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9, now, next(people))
    slot = slot_at(office, MONDAY_9)
    assert (slot.booked, slot.capacity) == (2, 2)
    assert_seats_add_up(office)


# A cancelled seat is free again at exactly its release time (the cancellation plus the
# release delay), not a microsecond before; the booking that takes it gives the old seat back
# in the same step, so the slot counts one seat, not two.


@pytest.fixture
def cancelled_seat(make_office, make_service, clock, people):
    """One desk; Monday 09:00 booked, confirmed and cancelled at the clock's time."""
    service = make_service(cutoff_hours=1)
    office = make_office(desks=1, services=[service])
    placed = hold(office, [service], MONDAY_9, clock(), next(people))
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    booking.cancel_appointment(db.session, placed.appointment, "plans changed", clock(), POLICY)
    db.session.commit()
    return office, service, placed.appointment, clock() + RELEASE_DELAY


def test_a_microsecond_before_its_release_time_a_cancelled_seat_is_still_taken(
    cancelled_seat, people
) -> None:
    office, service, _cancelled, released_at = cancelled_seat
    now = released_at - MICROSECOND
    assert offered(office, [service], now)[MONDAY_9] == 0
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9, now, next(people))
    db.session.rollback()
    assert seats.release_due_seats(db.session, now, slot_ids=[slot_at(office, MONDAY_9).id]) == {}
    assert slot_at(office, MONDAY_9).booked == 1


def test_at_its_release_time_a_cancelled_seat_is_free_and_taken_once(
    cancelled_seat, people
) -> None:
    office, service, cancelled, released_at = cancelled_seat
    assert offered(office, [service], released_at)[MONDAY_9] == 1
    hold(office, [service], MONDAY_9, released_at, next(people))
    assert slot_at(office, MONDAY_9).booked == 1
    assert seat_of(cancelled).holds_seat is False
    assert_seats_add_up(office)


def test_release_due_seats_gives_back_a_seat_whose_release_time_is_now(cancelled_seat) -> None:
    office, _service, cancelled, released_at = cancelled_seat
    slot_id = slot_at(office, MONDAY_9).id
    assert seats.release_due_seats(db.session, released_at, slot_ids=[slot_id]) == {slot_id: 1}
    assert slot_at(office, MONDAY_9).booked == 0
    assert seat_of(cancelled).holds_seat is False


# A hold keeps its seat until the instant it expires. At that instant it can no longer be
# confirmed, its seat is free, and the same person may hold a time for the service again.


@pytest.fixture
def held_seat(make_office, make_service, clock, people):
    """One desk; Monday 09:00 held (not confirmed) at the clock's time."""
    service = make_service()
    office = make_office(desks=1, services=[service])
    iin = next(people)
    placed = hold(office, [service], MONDAY_9, clock(), iin)
    db.session.commit()
    return office, service, placed, iin, clock() + HOLD


def test_a_microsecond_before_it_expires_a_hold_keeps_its_seat_and_can_be_confirmed(
    held_seat, people
) -> None:
    office, service, placed, _iin, expires_at = held_seat
    now = expires_at - MICROSECOND
    assert offered(office, [service], now)[MONDAY_9] == 0
    with pytest.raises(SlotUnavailable):
        hold(office, [service], MONDAY_9, now, next(people))
    db.session.rollback()
    confirmed = booking.confirm_hold(db.session, placed.appointment, placed.code, now, POLICY)
    assert confirmed.status == Status.CONFIRMED
    assert slot_at(office, MONDAY_9).booked == 1


def test_at_its_expiry_instant_a_hold_can_no_longer_be_confirmed(held_seat) -> None:
    office, service, placed, _iin, expires_at = held_seat
    with pytest.raises(HoldExpired):
        booking.confirm_hold(db.session, placed.appointment, placed.code, expires_at, POLICY)
    assert slot_at(office, MONDAY_9).booked == 0
    assert offered(office, [service], expires_at)[MONDAY_9] == 1


def test_at_its_expiry_instant_a_held_seat_is_free_even_for_the_same_person(held_seat) -> None:
    office, service, placed, iin, expires_at = held_seat
    assert offered(office, [service], expires_at)[MONDAY_9] == 1
    again = hold(office, [service], MONDAY_9, expires_at, iin)  # not a duplicate booking
    assert again.appointment.id != placed.appointment.id
    db.session.refresh(placed.appointment)
    assert placed.appointment.status == Status.EXPIRED
    assert placed.appointment.expired_at == expires_at
    assert slot_at(office, MONDAY_9).booked == 1
    assert_seats_add_up(office)


def test_a_second_hold_a_microsecond_before_expiry_replaces_the_live_one_and_frees_its_seat(
    held_seat,
) -> None:
    office, service, placed, iin, expires_at = held_seat
    now = expires_at - MICROSECOND
    second = hold(office, [service], MONDAY_9 + QUARTER, now, iin)
    db.session.flush()
    db.session.refresh(placed.appointment)
    assert placed.appointment.status == Status.CANCELLED
    assert placed.appointment.cancel_reason == booking.REPLACED_REASON
    assert second.appointment.status == Status.HELD
    assert offered(office, [service], now)[MONDAY_9] == 1
    assert slot_at(office, MONDAY_9 + QUARTER).booked == 1


def test_a_person_with_a_booking_is_refused_a_second_hold(held_seat) -> None:
    office, service, placed, iin, expires_at = held_seat
    now = expires_at - MICROSECOND
    booking.confirm_hold(db.session, placed.appointment, placed.code, now, POLICY)
    with pytest.raises(DuplicateBooking):
        hold(office, [service], MONDAY_9 + QUARTER, now, iin)
    db.session.rollback()


# A booking gives back only the due seats of the slots it takes: a cancelled seat past its
# release time and an expired hold in other slots stay as they are until a booking needs
# their slot (availability counts them as free meanwhile), and that booking then takes them
# over, finishing the expired hold.


def test_a_booking_gives_back_due_seats_only_in_its_own_slots(
    make_office, make_service, clock, people
) -> None:
    service = make_service(cutoff_hours=1)
    office = make_office(desks=1, services=[service])
    nine, nine_15, nine_30 = MONDAY_9, MONDAY_9 + QUARTER, MONDAY_9 + 2 * QUARTER
    placed = hold(office, [service], nine_15, clock(), next(people))
    cancelled = booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    booking.cancel_appointment(db.session, cancelled, "", clock(), POLICY)
    expired = hold(office, [service], nine_30, clock(), next(people)).appointment
    db.session.commit()
    now = clock() + RELEASE_DELAY  # both seats are due back now

    hold(office, [service], nine, now, next(people))

    assert offered(office, [service], now)[nine_15] == 1
    assert offered(office, [service], now)[nine_30] == 1
    assert slot_at(office, nine_15).booked == 1 and seat_of(cancelled).holds_seat is True
    assert slot_at(office, nine_30).booked == 1 and seat_of(expired).holds_seat is True
    db.session.refresh(expired)
    assert expired.status == Status.HELD  # shown as expired, not yet written as such

    hold(office, [service], nine_15, now, next(people))
    hold(office, [service], nine_30, now, next(people))

    assert slot_at(office, nine_15).booked == 1 and seat_of(cancelled).holds_seat is False
    assert slot_at(office, nine_30).booked == 1 and seat_of(expired).holds_seat is False
    db.session.refresh(expired)
    assert (expired.status, expired.expired_at) == (Status.EXPIRED, now)
    assert_seats_add_up(office)


# An office's times are its own slots only: another office's slots, even at hours this
# office doesn't open, are neither offered nor held for it.


def test_only_the_offices_own_slots_are_offered_and_held(
    make_office, make_service, clock, people
) -> None:
    service = make_service()
    seoul = make_office(desks=1, services=[service])  # opens at 09:00
    busan = make_office(desks=1, services=[service], periods=[(0, time(7), time(8), 1)])
    seven = MONDAY_9 - timedelta(hours=2)  # Monday 07:00 in Korea: only Busan is open

    starts = offered(seoul, [service], clock())
    assert min(starts) == MONDAY_9
    seoul_slots = db.session.scalars(
        sa.select(Slot.starts_at).where(
            Slot.office_id == seoul.id, Slot.starts_at < MONDAY_9 + timedelta(days=1)
        )
    ).all()
    assert sorted(starts) == sorted(seoul_slots)
    assert seven in offered(busan, [service], clock())

    with pytest.raises(SlotUnavailable):
        hold(seoul, [service], seven, clock(), next(people))
    db.session.rollback()
    assert slot_at(busan, seven).booked == 0


# A blocked slot is offered with no seats and never held, even when it was blocked between
# the moment a booking read it and the moment it takes the seat.


@pytest.fixture
def two_desks(make_office, make_service):
    service = make_service(cutoff_hours=1)
    office = make_office(desks=2, services=[service])
    return office, service


def block(office: Office, start: datetime) -> Slot:
    """Block the slot from online booking, as a manager does on the week page."""
    slot = slot_at(office, start)
    slot.is_blocked = True
    db.session.commit()
    return slot


def test_a_blocked_slot_is_offered_with_no_seats_and_refused(two_desks, clock, people) -> None:
    office, service = two_desks
    block(office, MONDAY_9)
    assert offered(office, [service], clock())[MONDAY_9] == 0
    with pytest.raises(SlotUnavailable) as error:
        hold(office, [service], MONDAY_9, clock(), next(people))
    assert "no appointment time" in str(error.value)
    db.session.rollback()
    assert slot_at(office, MONDAY_9).booked == 0


def test_the_seat_update_takes_no_seat_in_a_blocked_slot(two_desks) -> None:
    office, _service = two_desks
    slot = block(office, MONDAY_9)
    assert seats.apply_seat_changes(db.session, [slot.id], Counter()) is False
    assert slot_at(office, MONDAY_9).booked == 0


def test_a_blocked_slot_still_takes_back_its_given_back_seats(two_desks, clock, people) -> None:
    office, service = two_desks
    placed = hold(office, [service], MONDAY_9, clock(), next(people))
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    booking.cancel_appointment(db.session, placed.appointment, "", clock(), POLICY)
    slot = block(office, MONDAY_9)
    released = seats.release_due_seats(db.session, clock() + RELEASE_DELAY, slot_ids=[slot.id])
    assert released == {slot.id: 1}
    assert slot_at(office, MONDAY_9).booked == 0
    assert_seats_add_up(office)


# SQLite transactions take the write lock at BEGIN: nothing can interleave there.
@pytest.mark.postgresql_only
def test_a_slot_blocked_after_the_booking_read_it_is_not_held(two_desks, clock, people) -> None:
    """On PostgreSQL a manager can block the slot while a booking is under way; the seat's
    conditional update must see the block. (SQLite runs one writer at a time.)"""
    office, service = two_desks
    slot_id = slot_at(office, MONDAY_9).id
    db.session.commit()
    blocked: list[bool] = []

    def manager_blocks_first(conn, cursor, statement, parameters, context, executemany) -> None:
        # Just before the booking takes its seat, a manager's own transaction commits the block.
        if blocked or not statement.lstrip().upper().startswith("UPDATE SLOT SET BOOKED"):
            return
        blocked.append(True)
        with db.engine.connect() as manager:
            # Should the booking ever lock the slot before this point, fail instead of hanging.
            manager.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            manager.execute(sa.update(Slot).where(Slot.id == slot_id).values(is_blocked=True))
            manager.commit()

    sa.event.listen(db.engine, "before_cursor_execute", manager_blocks_first)
    try:
        with pytest.raises(SlotUnavailable):
            hold(office, [service], MONDAY_9, clock(), next(people))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", manager_blocks_first)
    assert blocked == [True]
    db.session.rollback()
    slot = slot_at(office, MONDAY_9)
    assert (slot.is_blocked, slot.booked) == (True, 0)
