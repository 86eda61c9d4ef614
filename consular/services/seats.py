"""The seats of slots: taking them, moving them, and giving them back.

This module is the only writer of appointment_slot and of Slot.booked.

A seat is one row of appointment_slot counted in Slot.booked. It is due back when its
hold has expired (`hold_until`) or its release time has passed (`release_at`); both are on
the seat itself, so finding due seats reads only the few seats that may come back.
Nothing here depends on a background job: the booking path gives back what is due in the
slots it needs, and availability counts due seats as free even before they are given back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from consular.database import SessionLike, rows_changed
from consular.models import Appointment, Slot, Status, appointment_slot
from consular.models.appointment import seat_may_come_back
from consular.models.base import UTCDateTime
from consular.services import transitions

seat = appointment_slot.c


def seat_due_condition(now: datetime | sa.BindParameter[datetime]) -> sa.ColumnElement[bool]:
    """SQL condition on appointment_slot: the seat is due back at `now`."""
    return sa.and_(seat_may_come_back(), sa.or_(seat.release_at <= now, seat.hold_until <= now))


def due_seats_by_slot_query(
    now: datetime | sa.BindParameter[datetime], slot_filters: list[sa.ColumnElement[bool]]
) -> sa.Subquery:
    """Per slot among those the filters on Slot pick, how many of its booked seats are due
    to be given back at `now`. Only those slots' seats are read, so the work follows the
    slots asked about, never the whole history of seats."""
    return (
        sa.select(seat.slot_id.label("slot_id"), sa.func.count().label("due"))
        .join(Slot, Slot.id == seat.slot_id)
        .where(*slot_filters, seat_due_condition(now))
        .group_by(seat.slot_id)
        .subquery()
    )


def expire_due_holds(
    session: SessionLike,
    now: datetime,
    *,
    slot_ids: list[int] | None = None,
    iin: str | None = None,
    appointment_ids: list[int] | None = None,
) -> list[int]:
    """Mark held appointments past their time as expired, among those holding a seat in the
    given slots, of the given person or with the given ids; their seats become due at once."""
    if not (slot_ids or iin or appointment_ids):
        return []
    values: dict[str, Any] = {"now": now}
    if slot_ids:
        values["slot_ids"] = slot_ids
    if iin:
        values["iin"] = iin
    if appointment_ids:
        values["appointment_ids"] = appointment_ids
    query = _due_holds_query(bool(slot_ids), bool(iin), bool(appointment_ids))
    candidates = session.scalars(query, values).all()
    return end_visits(
        session, candidates, Status.EXPIRED, now, release_at=now, where=[hold_ran_out(now)]
    )


# The statements of taking and giving back seats are built once, with their values as
# parameters: a hold runs each of them, and building one (and its cache key) took longer than
# the database took to run it.
_NOW = sa.bindparam("now", type_=UTCDateTime)


@lru_cache(maxsize=8)
def _due_holds_query(by_slots: bool, by_iin: bool, by_appointments: bool) -> sa.Select:
    filters: list[sa.ColumnElement[bool]] = []
    if by_slots:
        filters.append(
            Appointment.id.in_(
                sa.select(seat.appointment_id).where(
                    seat.slot_id.in_(sa.bindparam("slot_ids", expanding=True)),
                    seat_may_come_back(),
                    seat.hold_until <= _NOW,
                )
            )
        )
    if by_iin:
        filters.append(Appointment.iin == sa.bindparam("iin"))
    if by_appointments:
        filters.append(Appointment.id.in_(sa.bindparam("appointment_ids", expanding=True)))
    return (
        sa.select(Appointment.id)
        .where(Appointment.status == Status.HELD, Appointment.hold_expires_at <= _NOW)
        .where(sa.or_(*filters))
        .order_by(Appointment.id)
    )


@lru_cache(maxsize=4)
def _due_seats_query(by_slots: bool, by_appointments: bool) -> sa.Select:
    filters: list[sa.ColumnElement[bool]] = []
    if by_slots:
        filters.append(seat.slot_id.in_(sa.bindparam("slot_ids", expanding=True)))
    if by_appointments:
        filters.append(seat.appointment_id.in_(sa.bindparam("appointment_ids", expanding=True)))
    return (
        sa.select(seat.appointment_id, seat.slot_id)
        .where(seat_due_condition(_NOW), sa.or_(*filters))
        .order_by(seat.slot_id, seat.appointment_id)
    )


@lru_cache(maxsize=1)
def _claim_seat_statement() -> sa.Update:
    return (
        sa.update(appointment_slot)
        .where(
            seat.appointment_id == sa.bindparam("seat_appointment_id"),
            seat.slot_id == sa.bindparam("seat_slot_id"),
            seat.holds_seat.is_(True),
            # Checked again at the row: a seat its appointment took back meanwhile
            # (a reschedule to the slot it had left) is no longer due.
            seat.release_at <= _NOW,
        )
        .values(holds_seat=False)
    )


@lru_cache(maxsize=1)
def _take_seat_statement() -> sa.Update:
    """One seat more in slot `slot_id`, `back` seats given back in the same step; only if a
    seat is free then and the slot is not blocked."""
    back = sa.bindparam("back", type_=sa.Integer)
    return (
        sa.update(Slot)
        .where(
            Slot.id == sa.bindparam("slot_id"),
            Slot.booked - back < Slot.capacity,
            Slot.is_blocked.is_(False),
        )
        .values(booked=Slot.booked + 1 - back)
        .execution_options(synchronize_session=False)
    )


@lru_cache(maxsize=1)
def _give_back_statement() -> sa.Update:
    return (
        sa.update(Slot)
        .where(Slot.id == sa.bindparam("slot_id"))
        .values(booked=Slot.booked - sa.bindparam("back", type_=sa.Integer))
        .execution_options(synchronize_session=False)
    )


def hold_ran_out(now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition: the appointment is a hold whose time has run out."""
    return sa.and_(Appointment.status == Status.HELD, Appointment.hold_expires_at <= now)


def end_visits(
    session: SessionLike,
    appointment_ids: Iterable[int],
    new: Status,
    now: datetime,
    *,
    release_at: datetime,
    **options: Any,
) -> list[int]:
    """Cancel or expire appointments (see `transitions.change_status`) and put their seats
    back on sale at `release_at` (a hold's seats no longer wait for its expiry); return the
    ids that changed."""
    if new not in (Status.CANCELLED, Status.EXPIRED):
        raise ValueError(f"{new} does not give seats back")
    moved = transitions.change_status(session, appointment_ids, new, now, **options)
    if moved:
        session.execute(
            sa.update(appointment_slot)
            .where(seat.appointment_id.in_(moved), seat.holds_seat.is_(True))
            .values(
                release_at=sa.func.coalesce(
                    seat.release_at, sa.literal(release_at, type_=UTCDateTime)
                ),
                hold_until=None,
            )
        )
    return moved


def settle_hold(session: SessionLike, appointment_id: int) -> None:
    """The hold was confirmed: its seats no longer go back when the hold would have ended."""
    session.execute(
        sa.update(appointment_slot)
        .where(seat.appointment_id == appointment_id, seat.hold_until.is_not(None))
        .values(hold_until=None)
    )


@dataclass
class DueRelease:
    """Seats just claimed for giving back, counted per slot."""

    seats_by_slot: Counter[int] = field(default_factory=Counter)


def claim_due_seats(
    session: SessionLike,
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
    expire_due_holds(session, now, slot_ids=slot_ids, iin=iin, appointment_ids=appointment_ids)
    release = DueRelease()
    if not (slot_ids or appointment_ids):
        return release
    values: dict[str, Any] = {"now": now}
    if slot_ids:
        values["slot_ids"] = slot_ids
    if appointment_ids:
        values["appointment_ids"] = appointment_ids
    due = session.execute(_due_seats_query(bool(slot_ids), bool(appointment_ids)), values).all()
    for appointment_id, slot_id in due:
        result = session.execute(
            _claim_seat_statement(),
            {"seat_appointment_id": appointment_id, "seat_slot_id": slot_id, "now": now},
        )
        if rows_changed(result) == 1:
            release.seats_by_slot[slot_id] += 1
    return release


def apply_seat_changes(session: SessionLike, take: list[int], give_back: Counter[int]) -> bool:
    """Take one seat in each slot of `take` and give back the counted seats, all in slot id
    order so that concurrent transactions lock slots in the same order and never deadlock.

    A seat is taken only by a conditional update that finds it free; returns False as soon
    as a slot is full or blocked (the caller then rolls the whole transaction back).
    """
    wanted = set(take)
    for slot_id in sorted(wanted | set(give_back)):
        values = {"slot_id": slot_id, "back": give_back.get(slot_id, 0)}
        if slot_id in wanted:
            if rows_changed(session.execute(_take_seat_statement(), values)) != 1:
                return False
        else:
            session.execute(_give_back_statement(), values)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Slot) and (loaded.id in wanted or loaded.id in give_back):
            session.expire(loaded)
    return True


def release_due_seats(
    session: SessionLike,
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


def record_seats(
    session: SessionLike,
    appointment_id: int,
    slot_ids: list[int],
    *,
    hold_until: datetime | None = None,
) -> None:
    """Record that an appointment holds the seats just taken in these slots, until
    `hold_until` if it is a hold not yet confirmed."""
    session.execute(
        sa.insert(appointment_slot),
        [
            {
                "appointment_id": appointment_id,
                "slot_id": s,
                "holds_seat": True,
                "hold_until": hold_until,
            }
            for s in slot_ids
        ],
    )


def move_seats(
    session: SessionLike,
    appointment_id: int,
    slot_ids: list[int],
    now: datetime,
    *,
    leave_release_at: datetime,
) -> bool:
    """Make an appointment hold one seat in each of `slot_ids`: seats it still holds there are
    kept, the others taken; the seats it leaves go back on sale at `leave_release_at`.
    False when a slot it needs is full or blocked (the caller rolls back).

    A seat it left earlier counts as kept only while its release time is still ahead; the
    same condition guards `claim_due_seats`, so a seat can't be both kept and given away.
    """
    wanted = sorted(set(slot_ids))
    kept = set(
        session.scalars(
            sa.update(appointment_slot)
            .where(
                seat.appointment_id == appointment_id,
                seat.slot_id.in_(wanted),
                seat.holds_seat.is_(True),
                sa.or_(seat.release_at.is_(None), seat.release_at > now),
            )
            .values(release_at=None)
            .returning(seat.slot_id)
        )
    )
    missing = [slot_id for slot_id in wanted if slot_id not in kept]
    if missing:
        release = claim_due_seats(session, now, slot_ids=missing)
        if not apply_seat_changes(session, missing, release.seats_by_slot):
            return False
        # Rows of slots it left long ago no longer hold a seat; the seat just taken is theirs.
        returning = set(
            session.scalars(
                sa.update(appointment_slot)
                .where(
                    seat.appointment_id == appointment_id,
                    seat.slot_id.in_(missing),
                    seat.holds_seat.is_(False),
                )
                .values(holds_seat=True, release_at=None)
                .returning(seat.slot_id)
            )
        )
        fresh = [slot_id for slot_id in missing if slot_id not in returning]
        if fresh:
            record_seats(session, appointment_id, fresh)
    session.execute(
        sa.update(appointment_slot)
        .where(
            seat.appointment_id == appointment_id,
            seat.slot_id.not_in(wanted),
            seat.holds_seat.is_(True),
            seat.release_at.is_(None),
        )
        .values(release_at=leave_release_at)
    )
    return True


def remove_free_slots(session: SessionLike, slot_ids: list[int]) -> int:
    """Delete slots that hold no seat (with the rows of seats given back in them); a slot
    booked meanwhile stays. Returns how many were deleted."""
    if not slot_ids:
        return 0
    session.execute(
        sa.delete(appointment_slot).where(
            seat.slot_id.in_(slot_ids),
            seat.holds_seat.is_(False),
            sa.exists().where(Slot.id == seat.slot_id, Slot.booked == 0),
        )
    )
    result = session.execute(
        sa.delete(Slot)
        .where(
            Slot.id.in_(slot_ids),
            Slot.booked == 0,
            ~sa.exists().where(seat.slot_id == Slot.id),
        )
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result)


@lru_cache(maxsize=1)
def _pending_releases_query() -> sa.Select:
    return (
        sa.select(seat.appointment_id, seat.slot_id, seat.release_at)
        .join(Slot, Slot.id == seat.slot_id)
        .where(
            Slot.office_id == sa.bindparam("office_id"),
            Slot.starts_at > sa.bindparam("now"),
            seat.holds_seat.is_(True),
            seat.release_at > sa.bindparam("now"),
        )
    )


def pending_releases(
    session: SessionLike, office_id: int, now: datetime
) -> list[tuple[int, int, datetime]]:
    """Seats of the office's future slots given up but not yet back on sale: (appointment,
    slot, release time)."""
    return [
        (row.appointment_id, row.slot_id, row.release_at)
        for row in session.execute(_pending_releases_query(), {"office_id": office_id, "now": now})
    ]


def set_release_times(session: SessionLike, seats: Iterable[tuple[int, int, datetime]]) -> None:
    """Move the release time of given-up seats (appointment, slot, new time) that still hold
    their seat: the waiting list makes pending ones due for one offer round, then puts back
    the time of those it did not take."""
    for appointment_id, slot_id, release_at in seats:
        session.execute(
            sa.update(appointment_slot)
            .where(
                seat.appointment_id == appointment_id,
                seat.slot_id == slot_id,
                seat.holds_seat.is_(True),
            )
            .values(release_at=release_at)
        )
