"""Giving seats back: expired holds and cancellations whose release delay has passed.

Nothing here depends on a background job: the booking path releases what is due for the
slots it needs, and availability counts due seats as free even before they are released.
"""

from __future__ import annotations

from collections import Counter
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


def release_due_seats(
    session: Session,
    now: datetime,
    *,
    slot_ids: list[int] | None = None,
    iin: str | None = None,
    appointment_ids: list[int] | None = None,
) -> list[int]:
    """Give back the seats due at `now` among the given slots, person or appointments.

    Each appointment is claimed by a conditional update, so when two requests race to
    release the same one only the winner decrements the slots. Returns the released ids.
    """
    query = sa.select(Appointment.id).where(seats_due_condition(now)).order_by(Appointment.id)
    if slot_ids is not None:
        query = query.where(
            Appointment.id.in_(
                sa.select(appointment_slot.c.appointment_id).where(
                    appointment_slot.c.slot_id.in_(slot_ids)
                )
            )
        )
    if iin is not None:
        query = query.where(Appointment.iin == iin)
    if appointment_ids is not None:
        query = query.where(Appointment.id.in_(appointment_ids))
    released: list[int] = []
    for appointment_id in session.scalars(query).all():
        expired_hold = sa.and_(
            Appointment.status == Status.HELD, Appointment.hold_expires_at <= now
        )
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
            released.append(appointment_id)
    if not released:
        return released
    session.execute(
        sa.update(AppointmentService)
        .where(AppointmentService.appointment_id.in_(released))
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
    per_slot = Counter(
        session.scalars(
            sa.select(appointment_slot.c.slot_id).where(
                appointment_slot.c.appointment_id.in_(released)
            )
        )
    )
    for slot_id in sorted(per_slot):
        session.execute(
            sa.update(Slot)
            .where(Slot.id == slot_id)
            .values(booked=Slot.booked - per_slot[slot_id])
            .execution_options(synchronize_session=False)
        )
    for loaded in list(session.identity_map.values()):
        if (isinstance(loaded, Appointment) and loaded.id in released) or (
            isinstance(loaded, Slot) and loaded.id in per_slot
        ):
            session.expire(loaded)
    return released
