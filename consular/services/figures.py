"""The roll-up: storing the figures of days that are over, so that reports read them.

A day is rolled up once it has ended in the office's zone `settle_days` ago. Nothing
makes a stored figure wrong later: the triggers in consular/models/figures.py delete a
day's figures in the transaction of any write that touches what the report counted for
it (close-day, a late no-show or resumed ticket, a cancelled appointment outside the
schedule, a blocked slot, a script), and the next roll-up stores it again.

Storing a figure while such a write is under way needs care, because a trigger only
deletes figures it can see. So a roll-up runs in three steps, with a commit after each:

1. `reserve_days`: an empty, pending figure row for each day to store. From the commit
   on, a write to one of those days finds the row and deletes it.
2. `wait_for_writers`: on PostgreSQL, wait for every writing transaction still running
   at that commit; one of them may have written to a day before the row existed. (SQLite
   runs one writing transaction at a time, BEGIN IMMEDIATE, so none can be running.)
3. `fill_days`: lock the pending rows, count their days with the report's own
   `compute_days`, store. A write to those days waits for the lock, then deletes the
   figure it has just stored; a pending row already deleted is simply not stored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consular.database import SessionLike
from consular.models import (
    Appointment,
    DailyFigure,
    DailyServiceFigure,
    Office,
    Slot,
    Ticket,
)
from consular.models.figures import COUNT_NAMES, SAMPLE_NAMES
from consular.services.reports import (
    DayFigures,
    Samples,
    compute_days,
    day_bounds,
    runs,
    stored_days,
)

# Days counted in one transaction of `fill_days`: a month of visits at a busy office.
BATCH_DAYS = 31
# How long one attempt of `wait_for_writers` may hold up writers, and the pause after it.
LOCK_ATTEMPT_MS = 200
LOCK_RETRY_SECONDS = 1.0


def last_settled_day(office: Office, now: datetime, settle_days: int) -> date:
    """The last local day of the office that is rolled up at `now`."""
    if settle_days < 1:
        raise ValueError("settle_days must be at least 1: today is not over")
    return now.astimezone(office.zone).date() - timedelta(days=settle_days)


def first_recorded_day(session: SessionLike, office: Office) -> date | None:
    """The office's first local day with a slot, an appointment or a ticket, if any."""
    instants = [
        session.scalar(sa.select(sa.func.min(Slot.starts_at)).where(Slot.office_id == office.id)),
        session.scalar(
            sa.select(sa.func.min(Appointment.starts_at)).where(Appointment.office_id == office.id)
        ),
    ]
    days = [instant.astimezone(office.zone).date() for instant in instants if instant]
    first_ticket = session.scalar(
        sa.select(sa.func.min(Ticket.service_day)).where(Ticket.office_id == office.id)
    )
    if first_ticket is not None:
        days.append(first_ticket)
    return min(days, default=None)


def reserve_days(session: SessionLike, office: Office, now: datetime, settle_days: int) -> int:
    """Add a pending figure for each settled day of the office that has none, replacing
    figures counted over other bounds (a new zone); returns how many days are pending.
    The caller commits, then waits for writers (`wait_for_writers`) before `fill_days`."""
    first = first_recorded_day(session, office)
    last = last_settled_day(office, now, settle_days)
    if first is not None and first <= last:
        bounds = day_bounds(office, first, last)
        existing = session.execute(
            sa.select(
                DailyFigure.id, DailyFigure.day, DailyFigure.day_starts_at, DailyFigure.day_ends_at
            ).where(
                DailyFigure.office_id == office.id,
                DailyFigure.day >= first,
                DailyFigure.day <= last,
            )
        ).all()
        kept: set[date] = set()
        outdated: list[int] = []
        for figure_id, day, starts_at, ends_at in existing:
            offset = (day - first).days
            if (starts_at, ends_at) == (bounds[offset], bounds[offset + 1]):
                kept.add(day)
            else:
                outdated.append(figure_id)
        if outdated:
            session.execute(sa.delete(DailyFigure).where(DailyFigure.id.in_(outdated)))
        new_rows = [
            {
                "office_id": office.id,
                "day": first + timedelta(days=offset),
                "day_starts_at": bounds[offset],
                "day_ends_at": bounds[offset + 1],
                "computed_at": None,
            }
            for offset in range(len(bounds) - 1)
            if first + timedelta(days=offset) not in kept
        ]
        if new_rows:
            session.execute(sa.insert(DailyFigure), new_rows)
    return len(pending_days(session, office))


def pending_days(session: SessionLike, office: Office) -> list[date]:
    """The office's days reserved by a roll-up and not yet stored, in order."""
    return list(
        session.scalars(
            sa.select(DailyFigure.day)
            .where(DailyFigure.office_id == office.id, DailyFigure.computed_at.is_(None))
            .order_by(DailyFigure.day)
        )
    )


def wait_for_writers(session: SessionLike, timeout: float) -> bool:
    """Wait until every transaction that has written to a table the report reads, and is
    still running, has ended; False if one still runs after `timeout` seconds (its days
    are then left pending for the next roll-up). Run it after committing `reserve_days`.

    On PostgreSQL every such transaction holds a ROW EXCLUSIVE lock on daily_figure from
    its first trigger on, until it ends: taking a SHARE lock on the table (and letting it
    go at once) waits for exactly those. Writers that come meanwhile queue behind the
    request, so each attempt gives up after LOCK_ATTEMPT_MS and tries again. SQLite has
    nothing to wait for (see the module's docstring).
    """
    engine = session.get_bind().engine
    if engine.dialect.name != "postgresql":
        return True
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while True:
            try:
                connection.execute(sa.text(f"SET LOCAL lock_timeout = {LOCK_ATTEMPT_MS}"))
                connection.execute(sa.text("LOCK TABLE daily_figure IN SHARE MODE"))
                return True
            except sa.exc.OperationalError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(LOCK_RETRY_SECONDS)
            finally:
                connection.rollback()


def fill_days(session: SessionLike, office: Office, days: Sequence[date], now: datetime) -> int:
    """Count and store the pending figures of these days of the office; returns how many
    were stored (a pending figure a write has deleted meanwhile is skipped). The caller
    commits."""
    if not days:
        return 0
    claimed = session.execute(
        sa.update(DailyFigure)
        .where(
            DailyFigure.office_id == office.id,
            DailyFigure.day.in_(days),
            DailyFigure.computed_at.is_(None),
        )
        .values(computed_at=now)
        .returning(
            DailyFigure.id, DailyFigure.day, DailyFigure.day_starts_at, DailyFigure.day_ends_at
        )
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        return 0
    # Counted a run of consecutive days at a time: days forgotten here and there over a
    # year are not counted with all the days between them.
    first = min(row.day for row in claimed)
    offsets = sorted({(row.day - first).days for row in claimed})
    bounds = day_bounds(office, first, first + timedelta(days=offsets[-1]))
    counted: dict[int, DayFigures] = {}
    for start, end in runs(offsets):
        counted.update(
            enumerate(
                compute_days(
                    session, office, first + timedelta(days=start), first + timedelta(days=end)
                ),
                start=start,
            )
        )
    figures: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for figure_id, day, starts_at, ends_at in claimed:
        offset = (day - first).days
        if (starts_at, ends_at) != (bounds[offset], bounds[offset + 1]):
            # The office changed zone since the day was reserved: the next roll-up redoes it.
            session.execute(sa.delete(DailyFigure).where(DailyFigure.id == figure_id))
            continue
        day_figures = counted[offset]
        figures.append(
            {
                "id": figure_id,
                **_columns(day_figures.counts, day_figures.samples),
                "seats_offered": day_figures.capacity.offered,
                "seats_booked": day_figures.capacity.booked,
            }
        )
        parts.extend(
            {
                "figure_id": figure_id,
                "service_type_id": service_type_id,
                **_columns(part.counts, part.samples),
            }
            for service_type_id, part in sorted(day_figures.services.items())
        )
    if figures:
        session.execute(sa.update(DailyFigure), figures)
    if parts:
        session.execute(sa.insert(DailyServiceFigure), parts)
    return len(figures)


def _columns(counts: Any, samples: Samples) -> dict[str, Any]:
    return {
        **{name: getattr(counts, name) for name in COUNT_NAMES},
        **{f"{name}_samples": getattr(samples, name) for name in SAMPLE_NAMES},
    }


@dataclass(frozen=True)
class StaleFigure:
    """A stored figure that differs from its day counted anew (which must never happen)."""

    office_id: int
    office_code: str
    day: date


def _canonical(figures: DayFigures) -> tuple[Any, ...]:
    """What a day's figures say, whatever order the durations were collected in."""

    def sorted_samples(samples: Samples) -> tuple[list[float], ...]:
        return tuple(sorted(getattr(samples, name)) for name in SAMPLE_NAMES)

    return (
        figures.counts,
        figures.capacity,
        sorted_samples(figures.samples),
        {
            service_type_id: (part.counts, sorted_samples(part.samples))
            for service_type_id, part in figures.services.items()
        },
    )


def stale_figures(session: SessionLike, offices: Sequence[Office]) -> list[StaleFigure]:
    """Every stored figure of these offices that a count of its day from the visits,
    seats and tickets would not give."""
    stale: list[StaleFigure] = []
    for office in offices:
        stored_on = session.scalars(
            sa.select(DailyFigure.day)
            .where(DailyFigure.office_id == office.id, DailyFigure.computed_at.is_not(None))
            .order_by(DailyFigure.day)
        ).all()
        # A count of many days at once is a CASE over their bounds: a month at a time.
        for start in range(0, len(stored_on), BATCH_DAYS):
            first, last = stored_on[start], stored_on[min(start + BATCH_DAYS, len(stored_on)) - 1]
            stored = stored_days(session, office, first, last)
            counted = compute_days(session, office, first, last)
            for offset, figures in sorted(stored.items()):
                if _canonical(figures) != _canonical(counted[offset]):
                    stale.append(
                        StaleFigure(office.id, office.code, first + timedelta(days=offset))
                    )
    return stale


def forget(session: SessionLike, stale: Sequence[StaleFigure]) -> None:
    """Delete these figures: reports count their days from the visits until a roll-up."""
    for figure in stale:
        session.execute(
            sa.delete(DailyFigure).where(
                DailyFigure.office_id == figure.office_id, DailyFigure.day == figure.day
            )
        )
