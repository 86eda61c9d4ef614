"""Giving seats back: expired holds, cancellations and rescheduled-away slots.

A seat is one row of appointment_slot counted in Slot.booked. It is due back when its
hold has expired or its release time has passed. Nothing here depends on a background
job: the booking path gives back what is due in the slots it needs, and availability
counts due seats as free even before they are given back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consular.models import Appointment, AppointmentService, Slot, Status, appointment_slot
from consular.models.base import UTCDateTime

seat = appointment_slot.c


def seat_due_condition(now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition on appointment_slot joined to appointment: the seat is due back."""
    return sa.and_(
        seat.holds_seat.is_(True),
        sa.or_(
            seat.release_at <= now,
            sa.and_(Appointment.status == Status.HELD, Appointment.hold_expires_at <= now),
        ),
    )


def due_seats_by_slot_query(now: datetime) -> sa.Subquery:
    """Per slot, how many of its booked seats are due to be given back at `now`."""
    return (
        sa.select(seat.slot_id.label("slot_id"), sa.func.count().label("due"))
        .join(Appointment, Appointment.id == seat.appointment_id)
        .where(seat_due_condition(now))
        .group_by(seat.slot_id)
        .subquery()
    )


def expire_due_holds(
    session: Session, now: datetime, filters: list[sa.ColumnElement[bool]]
) -> list[int]:
    """Mark held appointments past their time as expired; their seats become due at once.

    A conditional update per appointment means two racing requests expire it only once.
    """
    if not filters:
        return []
    expired_hold = sa.and_(Appointment.status == Status.HELD, Appointment.hold_expires_at <= now)
    candidates = session.scalars(
        sa.select(Appointment.id).where(expired_hold, sa.or_(*filters)).order_by(Appointment.id)
    ).all()
    expired: list[int] = []
    for appointment_id in candidates:
        result = session.execute(
            sa.update(Appointment)
            .where(Appointment.id == appointment_id, expired_hold)
            .values(status=Status.EXPIRED, expired_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            expired.append(appointment_id)
    if expired:
        end_appointments(session, expired, release_at=now)
        for loaded in list(session.identity_map.values()):
            if isinstance(loaded, Appointment) and loaded.id in expired:
                session.expire(loaded)
    return expired


def end_appointments(session: Session, appointment_ids: list[int], release_at: datetime) -> None:
    """Free the appointments' service lines at once (the person may book again) and put
    their seats back on sale at `release_at`."""
    session.execute(
        sa.update(AppointmentService)
        .where(AppointmentService.appointment_id.in_(appointment_ids))
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(appointment_slot)
        .where(seat.appointment_id.in_(appointment_ids), seat.holds_seat.is_(True))
        .values(
            release_at=sa.func.coalesce(seat.release_at, sa.literal(release_at, type_=UTCDateTime))
        )
    )


@dataclass
class DueRelease:
    """Seats just claimed for giving back, counted per slot."""

    seats_by_slot: Counter[int] = field(default_factory=Counter)


def claim_due_seats(
    session: Session,
    now: datetime,
    *,
    slot_ids: list[int] | None = None,
    iin: str | None = None,
    appointment_ids: list[int] | None = None,
) -> DueRelease:
    """Claim the seats due back in the given slots (or of the given appointments), after
    expiring the due holds touching them or the person; the caller gives the seats back
    with `apply_seat_changes`.

    Each seat is claimed by a conditional update, so when two requests race to give back
    the same seat, only the winner does.
    """
    hold_filters: list[sa.ColumnElement[bool]] = []
    seat_filters: list[sa.ColumnElement[bool]] = []
    if slot_ids:
        hold_filters.append(
            Appointment.id.in_(sa.select(seat.appointment_id).where(seat.slot_id.in_(slot_ids)))
        )
        seat_filters.append(seat.slot_id.in_(slot_ids))
    if iin:
        hold_filters.append(Appointment.iin == iin)
    if appointment_ids:
        hold_filters.append(Appointment.id.in_(appointment_ids))
        seat_filters.append(seat.appointment_id.in_(appointment_ids))
    expire_due_holds(session, now, hold_filters)
    release = DueRelease()
    if not seat_filters:
        return release
    due = session.execute(
        sa.select(seat.appointment_id, seat.slot_id)
        .join(Appointment, Appointment.id == seat.appointment_id)
        .where(seat_due_condition(now), sa.or_(*seat_filters))
        .order_by(seat.slot_id, seat.appointment_id)
    ).all()
    for appointment_id, slot_id in due:
        result = session.execute(
            sa.update(appointment_slot)
            .where(
                seat.appointment_id == appointment_id,
                seat.slot_id == slot_id,
                seat.holds_seat.is_(True),
            )
            .values(
                holds_seat=False,
                release_at=sa.func.coalesce(seat.release_at, sa.literal(now, type_=UTCDateTime)),
            )
        )
        if result.rowcount == 1:
            release.seats_by_slot[slot_id] += 1
    return release


def apply_seat_changes(session: Session, take: list[int], give_back: Counter[int]) -> bool:
    """Take one seat in each slot of `take` and give back the counted seats, all in slot id
    order so that concurrent transactions lock slots in the same order and never deadlock.

    A seat is taken only by a conditional update that finds it free; returns False as soon
    as a slot is full or blocked (the caller then rolls the whole transaction back).
    """
    wanted = set(take)
    for slot_id in sorted(wanted | set(give_back)):
        back = give_back.get(slot_id, 0)
        if slot_id in wanted:
            statement = (
                sa.update(Slot)
                .where(
                    Slot.id == slot_id,
                    Slot.booked - back < Slot.capacity,
                    Slot.is_blocked.is_(False),
                )
                .values(booked=Slot.booked + 1 - back)
            )
        else:
            statement = sa.update(Slot).where(Slot.id == slot_id).values(booked=Slot.booked - back)
        result = session.execute(statement.execution_options(synchronize_session=False))
        if slot_id in wanted and result.rowcount != 1:
            return False
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Slot) and (loaded.id in wanted or loaded.id in give_back):
            session.expire(loaded)
    return True


def release_due_seats(
    session: Session,
    now: datetime,
    *,
    slot_ids: list[int] | None = None,
    iin: str | None = None,
    appointment_ids: list[int] | None = None,
) -> Counter[int]:
    """Give back the seats due at `now` in the given slots or of the given appointments."""
    release = claim_due_seats(
        session, now, slot_ids=slot_ids, iin=iin, appointment_ids=appointment_ids
    )
    apply_seat_changes(session, [], release.seats_by_slot)
    return release.seats_by_slot
