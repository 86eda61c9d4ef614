"""A visit moving back to a slot it left, while another booking claims that slot's seat.

The seat a reschedule leaves goes back on sale after the release delay. Once that time
has passed, the visit moving back and a new booking may both want that one seat. Every
interleaving is tried: the new booking runs, in its own connection, just before each SQL
statement of the reschedule in turn. Whatever the order, exactly one of them gets the
seat, and the slot counts exactly the seats held in it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from consular.extensions import db
from consular.models import Appointment, Slot, appointment_slot
from consular.services import booking
from consular.services.errors import SlotUnavailable
from tests.conftest import SECRET, booking_body, valid_iins
from tests.invariants import assert_booking_invariants

POLICY = booking.BookingPolicy(secret=SECRET, hold_minutes=10, release_delay_minutes=30)
TUESDAY_10 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
HOUR = timedelta(hours=1)
# Long enough for the other booking to finish unless it waits for one of our locks.
BLOCKED_AFTER = 0.5


def hold(session: Session, office, service, start: datetime, iin: str, now: datetime):
    body = booking_body(office, [service], start, applicant={"iin": iin})
    request = booking.parse_booking_request(session, body, now, POLICY)
    return booking.place_hold(session, request, now, POLICY)


def confirmed(office, service, start: datetime, iin: str, now: datetime) -> Appointment:
    placed = hold(db.session, office, service, start, iin, now)
    booking.confirm_hold(db.session, placed.appointment, placed.code, now, POLICY)
    db.session.commit()
    return placed.appointment


class OtherBooking:
    """A hold of `start` by someone else, in its own thread and connection."""

    def __init__(self, app, office_id: int, service_id: int, start: datetime, iin: str, now):
        self.outcome: str | None = None
        self.thread = threading.Thread(
            target=self._run, args=(app, office_id, service_id, start, iin, now)
        )

    def _run(self, app, office_id, service_id, start, iin, now) -> None:
        from consular.models import Office, ServiceType

        with app.app_context(), Session(db.engine) as session:
            office = session.get(Office, office_id)
            service = session.get(ServiceType, service_id)
            try:
                hold(session, office, service, start, iin, now)
                session.commit()
                self.outcome = "held"
            except SlotUnavailable:
                session.rollback()
                self.outcome = "refused"
            except Exception as error:  # noqa: BLE001 - reported by the test
                session.rollback()
                self.outcome = f"error: {error!r}"

    def start_and_wait_a_little(self) -> None:
        self.thread.start()
        self.thread.join(BLOCKED_AFTER)

    def finish(self) -> str:
        self.thread.join(60)
        assert self.outcome is not None, "the other booking never finished"
        return self.outcome


def run_with_interruption(run: Any, before_statement: int, interrupt: Any) -> tuple[Any, bool]:
    """Run `run()` in db.session, calling `interrupt()` just before its n-th SQL statement;
    returns run's result (or the SlotUnavailable it raised) and whether it was interrupted."""
    connection = db.session.connection()
    seen = {"count": 0, "interrupted": False}

    def before_cursor_execute(conn, *_args: Any) -> None:
        if conn is not connection:
            return
        if seen["count"] == before_statement:
            seen["interrupted"] = True
            interrupt()
        seen["count"] += 1

    sa.event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        try:
            result: Any = run()
            db.session.commit()
        except SlotUnavailable as refusal:
            db.session.rollback()
            result = refusal
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before_cursor_execute)
    return result, seen["interrupted"]


def seats_held_in(slot_id: int) -> list[int]:
    return db.session.scalars(
        sa.select(appointment_slot.c.appointment_id).where(
            appointment_slot.c.slot_id == slot_id, appointment_slot.c.holds_seat.is_(True)
        )
    ).all()


def test_a_visit_moving_back_and_a_new_booking_never_share_a_seat(
    app, clock, make_office, make_service
) -> None:
    service = make_service("passport-renewal", duration_minutes=15, cutoff_hours=24)
    office = make_office("seoul", desks=1, services=[service])
    people = valid_iins()
    interleavings = 0
    for day in range(0, 60):
        start = TUESDAY_10 + timedelta(days=day)
        if start.astimezone(office.zone).weekday() >= 5:
            continue
        left = db.session.scalar(
            sa.select(Slot.id).where(Slot.office_id == office.id, Slot.starts_at == start)
        )
        appointment = confirmed(office, service, start, next(people), clock())
        booking.reschedule_appointment(db.session, appointment, start + HOUR, clock(), POLICY)
        db.session.commit()
        clock.advance(minutes=POLICY.release_delay_minutes + 1)  # the seat left is due back

        other = OtherBooking(app, office.id, service.id, start, next(people), clock())
        result, interrupted = run_with_interruption(
            lambda appointment=appointment, start=start: booking.reschedule_appointment(
                db.session, appointment, start, clock(), POLICY
            ),
            interleavings,
            other.start_and_wait_a_little,
        )
        if not interrupted:  # every statement of the reschedule has been tried
            other.start_and_wait_a_little()
            other.finish()
            break
        outcome = other.finish()
        db.session.expire_all()

        holders = seats_held_in(left)
        if isinstance(result, SlotUnavailable):
            assert outcome == "held", (interleavings, outcome)
            assert appointment.id not in holders
        else:
            assert outcome == "refused", (interleavings, outcome)
            assert holders == [appointment.id]
        assert len(holders) == 1
        assert db.session.get(Slot, left).booked == 1
        assert_booking_invariants(db.session, clock())
        interleavings += 1
    assert interleavings >= 5, "the reschedule ran fewer statements than expected"


@pytest.mark.parametrize("moved_back_after_minutes", [29, 31])
def test_moving_back_to_the_slot_it_left_keeps_or_retakes_its_seat(
    app, clock, make_office, make_service, moved_back_after_minutes
) -> None:
    service = make_service("passport-renewal", duration_minutes=15, cutoff_hours=24)
    office = make_office("seoul", desks=1, services=[service])
    people = valid_iins()
    appointment = confirmed(office, service, TUESDAY_10, next(people), clock())
    left = db.session.scalar(
        sa.select(Slot.id).where(Slot.office_id == office.id, Slot.starts_at == TUESDAY_10)
    )
    booking.reschedule_appointment(db.session, appointment, TUESDAY_10 + HOUR, clock(), POLICY)
    db.session.commit()
    clock.advance(minutes=moved_back_after_minutes)

    booking.reschedule_appointment(db.session, appointment, TUESDAY_10, clock(), POLICY)
    db.session.commit()

    assert seats_held_in(left) == [appointment.id]
    assert db.session.get(Slot, left).booked == 1
    with pytest.raises(SlotUnavailable):
        hold(db.session, office, service, TUESDAY_10, next(people), clock())
    db.session.rollback()
    assert_booking_invariants(db.session, clock())
