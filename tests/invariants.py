"""What must hold in the database after any booking, queue or schedule action (and the
daily figures of the reports, which any of them may touch).

The app fixture runs `assert_booking_invariants` after every test, so a code path that
writes seats, statuses or service lines outside their owners fails the test that took it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consular.models import (
    Appointment,
    AppointmentService,
    DailyFigure,
    Office,
    Slot,
    Status,
    Ticket,
    TicketStatus,
    WaitlistEntry,
    WaitStatus,
    appointment_slot,
)
from consular.services.figures import stale_figures
from consular.services.queue import APPOINTMENT_STATUS_OF_TICKET
from consular.services.transitions import ENDED_STATUSES

seat = appointment_slot.c


def invariant_violations(session: Session, now: datetime) -> list[str]:
    """Every broken invariant, described; empty when the data is sound."""
    problems: list[str] = []
    holding = (
        sa.select(sa.func.count())
        .select_from(appointment_slot)
        .where(seat.slot_id == Slot.id, seat.holds_seat.is_(True))
        .scalar_subquery()
    )
    for row in session.execute(
        sa.select(Slot.id, Slot.starts_at, Slot.booked, Slot.capacity, holding.label("holding"))
    ):
        if row.booked != row.holding:
            problems.append(f"slot {row.id}: booked {row.booked} but {row.holding} seats held")
        if row.booked > row.capacity:
            problems.append(f"slot {row.id}: booked {row.booked} > capacity {row.capacity}")

    # A seat goes back when its hold ends only while the visit is an unconfirmed hold, and
    # never by the clock while it is a waiting-list offer: the waitlist passes that one on.
    offers = set(
        session.scalars(
            sa.select(WaitlistEntry.appointment_id).where(
                WaitlistEntry.status == WaitStatus.OFFERED
            )
        )
    )
    for row in session.execute(
        sa.select(
            seat.appointment_id,
            seat.slot_id,
            seat.holds_seat,
            seat.release_at,
            seat.hold_until,
            Appointment.status,
            Appointment.hold_expires_at,
        )
        .join(Appointment, Appointment.id == seat.appointment_id)
        .where(sa.or_(seat.hold_until.is_not(None), Appointment.status == Status.HELD))
    ):
        held = row.status == Status.HELD and row.holds_seat and row.release_at is None
        expected = row.hold_expires_at if held and row.appointment_id not in offers else None
        if row.hold_until != expected:
            problems.append(
                f"seat of appointment {row.appointment_id} in slot {row.slot_id} ({row.status}):"
                f" held until {row.hold_until}, expected {expected}"
            )

    appointments = session.scalars(sa.select(Appointment).order_by(Appointment.id)).all()
    lines = session.execute(
        sa.select(AppointmentService.appointment_id, AppointmentService.is_active)
    ).all()
    lines_of: dict[int, list[bool]] = {}
    for appointment_id, is_active in lines:
        lines_of.setdefault(appointment_id, []).append(is_active)
    seats = session.execute(
        sa.select(seat.appointment_id, seat.slot_id, seat.holds_seat, seat.release_at)
    ).all()
    seats_of: dict[int, list[sa.Row]] = {}
    for row in seats:
        seats_of.setdefault(row.appointment_id, []).append(row)
    slot_start = dict(session.execute(sa.select(Slot.id, Slot.starts_at)).tuples().all())

    for appointment in appointments:
        name = f"appointment {appointment.reference} ({appointment.status})"
        own_lines = lines_of.get(appointment.id, [])
        if not own_lines:
            problems.append(f"{name}: no service line")
        if appointment.status in ENDED_STATUSES and any(own_lines):
            problems.append(f"{name}: ended but its service lines still count as bookings")
        # A hold takes no place among the person's bookings until it is confirmed.
        if appointment.status == Status.HELD and any(own_lines):
            problems.append(f"{name}: an unconfirmed hold's service lines count as bookings")
        # (A missed visit taken back into the queue keeps its lines freed: not checked here.)
        if appointment.status == Status.CONFIRMED and not all(own_lines):
            problems.append(f"{name}: booked but its service lines don't count as bookings")
        live = appointment.status == Status.CONFIRMED or (
            appointment.status == Status.HELD and appointment.hold_expires_at > now
        )
        current = sorted(
            slot_start[row.slot_id]
            for row in seats_of.get(appointment.id, [])
            if row.holds_seat and row.release_at is None
        )
        if live:
            spanned = sorted(
                session.scalars(
                    sa.select(Slot.starts_at).where(
                        Slot.office_id == appointment.office_id,
                        Slot.starts_at >= appointment.starts_at,
                        Slot.starts_at < appointment.ends_at,
                    )
                )
            )
            if current != spanned:
                problems.append(f"{name}: holds {current}, its time spans {spanned}")
        elif appointment.status in (Status.CANCELLED, Status.EXPIRED) and current:
            problems.append(f"{name}: still holds seats with no release time")

    for ticket_id, status, appointment_status in session.execute(
        sa.select(Ticket.id, Ticket.status, Appointment.status).join(
            Appointment, Appointment.id == Ticket.appointment_id
        )
    ):
        expected = APPOINTMENT_STATUS_OF_TICKET.get(status)
        if expected is not None and appointment_status != expected:
            problems.append(f"ticket {ticket_id} {status}: its appointment is {appointment_status}")
        if status in (TicketStatus.WAITING, TicketStatus.CALLED) and appointment_status in (
            ENDED_STATUSES
        ):
            problems.append(f"ticket {ticket_id} {status}: its visit has ended")

    # A stored daily figure is what the report would count for its day now.
    stored = session.scalars(
        sa.select(Office).where(
            Office.id.in_(
                sa.select(DailyFigure.office_id).where(DailyFigure.computed_at.is_not(None))
            )
        )
    ).all()
    for figure in stale_figures(session, stored):
        problems.append(f"daily figure {figure.office_code} {figure.day}: stale")
    return problems


def assert_booking_invariants(session: Session, now: datetime) -> None:
    """Fail with every broken invariant listed."""
    problems = invariant_violations(session, now)
    assert not problems, "\n".join(problems)
