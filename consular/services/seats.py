"""Giving seats back: expired holds and cancellations whose release delay has passed.

Nothing here depends on a background job: the booking path releases what is due for the
slots it needs, and availability counts due seats as free even before they are released.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consular.models import Appointment, AppointmentService, Slot, Status, appointment_slot


def seats_due_condition(now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition: the appointment still holds seats that are due to be given back."""
    return sa.and_(
        Appointment.holds_seats.is_(True),
        sa.or_(
            sa.and_(Appointment.status == Status.HELD, Appointment.hold_expires_at <= now),
            sa.and_(
                Appointment.status.in_([Status.CANCELLED, Status.EXPIRED]),
                Appointment.seats_release_at <= now,
            ),
        ),
    )


def due_seats_by_slot_query(now: datetime) -> sa.Subquery:
    """Per slot, how many of its booked seats are due to be given back at `now`."""
    return (
        sa.select(
            appointment_slot.c.slot_id.label("slot_id"),
            sa.func.count().label("due"),
        )
        .join(Appointment, Appointment.id == appointment_slot.c.appointment_id)
        .where(seats_due_condition(now))
        .group_by(appointment_slot.c.slot_id)
        .subquery()
    )


@dataclass
class DueRelease:
    """Appointments just marked as no longer holding seats, and the seats to give back."""

    appointment_ids: list[int] = field(default_factory=list)
    seats_by_slot: Counter[int] = field(default_factory=Counter)


def claim_due_releases(
    session: Session,
    now: datetime,
    *,
    slot_ids: list[int] | None = None,
    iin: str | None = None,
    appointment_ids: list[int] | None = None,
) -> DueRelease:
    """Mark the appointments whose seats are due back, among those touching the given slots,
    person or ids; the caller gives the seats back with `apply_seat_changes`.

    Each appointment is claimed by a conditional update, so when two requests race to
    release the same one, only the winner gives its seats back.
    """
    filters: list[sa.ColumnElement[bool]] = []
    if slot_ids:
        filters.append(
            Appointment.id.in_(
                sa.select(appointment_slot.c.appointment_id).where(
                    appointment_slot.c.slot_id.in_(slot_ids)
                )
            )
        )
    if iin:
        filters.append(Appointment.iin == iin)
    if appointment_ids:
        filters.append(Appointment.id.in_(appointment_ids))
    release = DueRelease()
    if not filters:
        return release
    query = (
        sa.select(Appointment.id)
        .where(seats_due_condition(now), sa.or_(*filters))
        .order_by(Appointment.id)
    )
    expired_hold = sa.and_(Appointment.status == Status.HELD, Appointment.hold_expires_at <= now)
    for appointment_id in session.scalars(query).all():
        result = session.execute(
            sa.update(Appointment)
            .where(Appointment.id == appointment_id, seats_due_condition(now))
            .values(
                holds_seats=False,
                seats_release_at=sa.case(
                    (expired_hold, Appointment.hold_expires_at),
                    else_=Appointment.seats_release_at,
                ),
                expired_at=sa.case((expired_hold, now), else_=Appointment.expired_at),
                status=sa.case((expired_hold, Status.EXPIRED.value), else_=Appointment.status),
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            release.appointment_ids.append(appointment_id)
    if not release.appointment_ids:
        return release
    session.execute(
        sa.update(AppointmentService)
        .where(AppointmentService.appointment_id.in_(release.appointment_ids))
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
    release.seats_by_slot.update(
        session.scalars(
            sa.select(appointment_slot.c.slot_id).where(
                appointment_slot.c.appointment_id.in_(release.appointment_ids)
            )
        )
    )
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Appointment) and loaded.id in release.appointment_ids:
            session.expire(loaded)
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
) -> list[int]:
    """Give back the seats due at `now` among the given slots, person or appointments."""
    release = claim_due_releases(
        session, now, slot_ids=slot_ids, iin=iin, appointment_ids=appointment_ids
    )
    apply_seat_changes(session, [], release.seats_by_slot)
    return release.appointment_ids
