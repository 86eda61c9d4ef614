"""An appointment's life: which status may follow which, and the one way to change it.

Booking, the queue, closing a day and expiring holds all change an appointment's status
here, by a conditional UPDATE on the statuses the new one may follow, so that two
requests racing on the same visit can never both move it and no path can skip a step
(a visit that ends always frees the person's service lines, whoever ends it).
Seats are not touched here: `services/seats.py` owns them and calls this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consular.database import SessionLike, rows_changed
from consular.models import Appointment, AppointmentService, Status
from consular.models.base import UTCDateTime

# For each status, the statuses an appointment may be in just before it.
FOLLOWS: dict[Status, frozenset[Status]] = {
    Status.CONFIRMED: frozenset({Status.HELD}),
    Status.EXPIRED: frozenset({Status.HELD}),
    Status.CANCELLED: frozenset({Status.HELD, Status.CONFIRMED}),
    # Checked in at the desk, or sent back to the queue after a call (transfer, resume),
    # or resumed after three unanswered calls had marked the visitor absent.
    Status.CHECKED_IN: frozenset({Status.CONFIRMED, Status.CALLED, Status.NO_SHOW}),
    Status.CALLED: frozenset({Status.CHECKED_IN}),
    Status.SERVED: frozenset({Status.CHECKED_IN, Status.CALLED}),
    Status.NO_SHOW: frozenset({Status.CONFIRMED, Status.CHECKED_IN, Status.CALLED}),
}

# The statuses in which a visit is over: its service lines no longer count as bookings.
ENDED_STATUSES: frozenset[Status] = frozenset(
    {Status.SERVED, Status.NO_SHOW, Status.CANCELLED, Status.EXPIRED}
)

# A visit that started but has not ended: at the office today, in the queue or at a desk.
IN_PROGRESS_STATUSES: frozenset[Status] = frozenset({Status.CHECKED_IN, Status.CALLED})

_STAMPED_AT = {
    Status.CONFIRMED: "confirmed_at",
    Status.EXPIRED: "expired_at",
    Status.CANCELLED: "cancelled_at",
    Status.CHECKED_IN: "checked_in_at",
    Status.CALLED: "called_at",
    Status.SERVED: "served_at",
    Status.NO_SHOW: "no_show_at",
}


def can_follow(current: str, new: Status) -> bool:
    """Whether an appointment in `current` may move to `new`."""
    return current in FOLLOWS[new]


def change_status(
    session: SessionLike,
    appointment_ids: Iterable[int],
    new: Status,
    now: datetime,
    *,
    only_from: Iterable[Status] | None = None,
    where: Iterable[sa.ColumnElement[bool]] = (),
    **values: Any,
) -> list[int]:
    """Move each appointment to `new` if its status allows it (and `only_from`, a narrower
    set, and the extra `where` conditions); return the ids that moved.

    The time of the transition is stamped (`confirmed_at`, `served_at` …); a return to the
    queue keeps the first check-in time. Visits that end free their service lines, so the
    person may book the service again.
    """
    allowed = FOLLOWS[new] if only_from is None else FOLLOWS[new] & frozenset(only_from)
    if not allowed:
        raise ValueError(f"{new} can't follow {sorted(only_from or ())}")
    stamp_column = getattr(Appointment, _STAMPED_AT[new])
    stamp: Any = (
        sa.func.coalesce(stamp_column, sa.literal(now, type_=UTCDateTime))
        if new == Status.CHECKED_IN
        else now
    )
    values = {"status": new, _STAMPED_AT[new]: stamp, **values}
    moved: list[int] = []
    # One statement per appointment, in id order: each is decided on its own row.
    for appointment_id in sorted(set(appointment_ids)):
        result = session.execute(
            sa.update(Appointment)
            .where(Appointment.id == appointment_id, Appointment.status.in_(allowed), *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if rows_changed(result) == 1:
            moved.append(appointment_id)
    if moved and new in ENDED_STATUSES:
        session.execute(
            sa.update(AppointmentService)
            .where(AppointmentService.appointment_id.in_(moved))
            .values(is_active=False)
            .execution_options(synchronize_session=False)
        )
    if moved:
        for loaded in list(session.identity_map.values()):
            if isinstance(loaded, Appointment) and loaded.id in moved:
                session.expire(loaded)
    return moved


def change_one(
    session: SessionLike, appointment: Appointment, new: Status, now: datetime, **options: Any
) -> bool:
    """`change_status` for one loaded appointment; whether it moved (it is refreshed)."""
    moved = bool(change_status(session, [appointment.id], new, now, **options))
    session.refresh(appointment)
    return moved


def restore_no_show(session: SessionLike, appointment_id: int) -> bool:
    """Undo a no-show marked by mistake: the visit is confirmed again, as it was, and its
    service lines count as bookings again; whether it moved. The confirmation time stays;
    the no-show's is cleared. A line that can't count again (the person has booked the
    service since) makes the database refuse it with an IntegrityError."""
    result = session.execute(
        sa.update(Appointment)
        .where(Appointment.id == appointment_id, Appointment.status == Status.NO_SHOW)
        .values(status=Status.CONFIRMED, no_show_at=None)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        return False
    session.execute(
        sa.update(AppointmentService)
        .where(AppointmentService.appointment_id == appointment_id)
        .values(is_active=True)
        .execution_options(synchronize_session=False)
    )
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Appointment) and loaded.id == appointment_id:
            session.expire(loaded)
        elif isinstance(loaded, AppointmentService) and loaded.appointment_id == appointment_id:
            session.expire(loaded)
    return True
