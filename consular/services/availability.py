"""When a visit can be held: the office's slots, minus seats taken, within the services' rules."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa

from consular.database import SessionLike
from consular.models import Office, ServiceType, Slot
from consular.models.base import UTCDateTime
from consular.services.lottery_days import lottery_days
from consular.services.schedule import local_day_bounds
from consular.services.seats import due_seats_by_slot_query


@dataclass(frozen=True)
class VisitRules:
    """The combined rules of the services of one visit."""

    duration_minutes: int
    min_notice: timedelta
    horizon_days: int
    cutoff: timedelta
    # The services of the visit: days a lottery gives out for any of them are not on sale.
    service_ids: frozenset[int] = field(default=frozenset())

    @classmethod
    def for_services(cls, services: list[ServiceType]) -> VisitRules:
        return cls(
            duration_minutes=sum(s.duration_minutes for s in services),
            min_notice=timedelta(hours=max(s.min_notice_hours for s in services)),
            horizon_days=min(s.horizon_days for s in services),
            cutoff=timedelta(hours=max(s.cutoff_hours for s in services)),
            service_ids=frozenset(s.id for s in services),
        )

    @classmethod
    def from_snapshots(cls, snapshots: list[dict[str, Any]]) -> VisitRules:
        """The rules an appointment was booked with, from its services' snapshots."""
        return cls(
            duration_minutes=sum(int(s["duration_minutes"]) for s in snapshots),
            min_notice=timedelta(hours=max(int(s.get("min_notice_hours", 0)) for s in snapshots)),
            horizon_days=min(int(s.get("horizon_days", 60)) for s in snapshots),
            cutoff=timedelta(hours=max(int(s.get("cutoff_hours", 0)) for s in snapshots)),
        )

    def slots_needed(self, slot_minutes: int) -> int:
        return max(1, math.ceil(self.duration_minutes / slot_minutes))

    def earliest_start(self, now: datetime) -> datetime:
        return now + self.min_notice

    def last_day(self, office: Office, now: datetime) -> date:
        return now.astimezone(office.zone).date() + timedelta(days=self.horizon_days)

    def allows_start(self, office: Office, start: datetime, now: datetime) -> bool:
        """Whether the notice and horizon rules allow a visit starting then."""
        return start >= self.earliest_start(now) and start.astimezone(
            office.zone
        ).date() <= self.last_day(office, now)


@dataclass(frozen=True)
class StartTime:
    starts_at: datetime
    ends_at: datetime
    available: int
    slot_ids: tuple[int, ...]


class FreeSeats(NamedTuple):
    """One slot and how many seats it has free (0 when blocked)."""

    slot_id: int
    starts_at: datetime
    ends_at: datetime
    free: int


# Reads the free seats of an office's slots starting in [start, end): the database itself, or
# a short-lived cache of it (consular/availability_cache.py) for pages that only show them.
SeatReader = Callable[[SessionLike, Office, datetime, datetime, datetime], list[FreeSeats]]


@lru_cache(maxsize=1)
def free_seats_query() -> sa.Select:
    """The office's slots in a range with their free seats, counting due releases as free;
    parameters `office_id`, `starts_from`, `starts_before` and `now` (see
    `free_seats_parameters`). Built once: making the statement costs more than running it."""
    in_range = [
        Slot.office_id == sa.bindparam("office_id"),
        Slot.starts_at >= sa.bindparam("starts_from"),
        Slot.starts_at < sa.bindparam("starts_before"),
    ]
    due = due_seats_by_slot_query(sa.bindparam("now", type_=UTCDateTime), in_range)
    free = sa.case(
        (Slot.is_blocked.is_(True), 0),
        else_=Slot.capacity - Slot.booked + sa.func.coalesce(due.c.due, 0),
    )
    return (
        sa.select(Slot.id, Slot.starts_at, Slot.ends_at, free.label("free"), Slot.is_blocked)
        .outerjoin(due, due.c.slot_id == Slot.id)
        .where(*in_range)
        .order_by(Slot.starts_at)
    )


@lru_cache(maxsize=1)
def seats_free_at_query() -> sa.Select:
    """The slot of an office (by code) starting at a moment: its free seats, counting due
    releases as free, and whether it is blocked; parameters `office_code`, `starts_at` and
    `now`. Built once, like `free_seats_query`."""
    at_start = [
        Slot.office_id
        == sa.select(Office.id).where(Office.code == sa.bindparam("office_code")).scalar_subquery(),
        Slot.starts_at == sa.bindparam("starts_at", type_=UTCDateTime),
    ]
    due = due_seats_by_slot_query(sa.bindparam("now", type_=UTCDateTime), at_start)
    free = Slot.capacity - Slot.booked + sa.func.coalesce(due.c.due, 0)
    return (
        sa.select(free.label("free"), Slot.is_blocked)
        .outerjoin(due, due.c.slot_id == Slot.id)
        .where(*at_start)
    )


def slot_is_full(
    session: SessionLike, office_code: str, starts_at: datetime, now: datetime
) -> bool:
    """Whether the office's slot starting then exists, is open and has no seat free at `now`."""
    row = session.execute(
        seats_free_at_query(), {"office_code": office_code, "starts_at": starts_at, "now": now}
    ).first()
    return row is not None and not row.is_blocked and row.free <= 0


def free_seats_parameters(
    office_id: int, starts_from: datetime, starts_before: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "office_id": office_id,
        "starts_from": starts_from,
        "starts_before": starts_before,
        "now": now,
    }


def free_seats_between(
    session: SessionLike, office: Office, start: datetime, end: datetime, now: datetime
) -> list[FreeSeats]:
    """The free seats of the office's slots starting in [start, end), exact at `now`."""
    rows = session.execute(free_seats_query(), free_seats_parameters(office.id, start, end, now))
    return [FreeSeats(row.id, row.starts_at, row.ends_at, row.free) for row in rows]


def start_times(slots: Sequence[FreeSeats], needed: int, range_end: datetime) -> list[StartTime]:
    """The start times of a visit of `needed` consecutive slots (no gap, so never across a
    break) that begin before `range_end`; free seats are the fewest among the slots."""
    return list(iter_start_times(slots, needed, range_end))


def iter_start_times(
    slots: Sequence[FreeSeats], needed: int, range_end: datetime
) -> Iterator[StartTime]:
    """`start_times`, one at a time, for a caller that needs only the first few."""
    joined = [a.ends_at == b.starts_at for a, b in zip(slots, slots[1:], strict=False)]
    for index in range(len(slots) - needed + 1):
        first = slots[index]
        if first.starts_at >= range_end:
            return
        if needed > 1 and not all(joined[index : index + needed - 1]):
            continue
        run = slots[index : index + needed]
        yield StartTime(
            starts_at=first.starts_at,
            ends_at=run[-1].ends_at,
            available=max(0, min(slot.free for slot in run)),
            slot_ids=tuple(slot.slot_id for slot in run),
        )


def visit_start_times(
    session: SessionLike,
    office: Office,
    rules: VisitRules,
    first_day: date,
    last_day: date,
    now: datetime,
    *,
    read_seats: SeatReader = free_seats_between,
) -> list[StartTime]:
    """Every start time between two local days at which the visit could be held.

    Times the notice or horizon rules forbid are left out; full times are listed with 0
    available. One SQL statement, whatever the range (none when the seats come from a cache).
    """
    return list(_start_times_between(session, office, rules, first_day, last_day, now, read_seats))


def first_free_start_times(
    session: SessionLike,
    office: Office,
    rules: VisitRules,
    first_day: date,
    last_day: date,
    now: datetime,
    limit: int,
    *,
    read_seats: SeatReader = free_seats_between,
) -> list[StartTime]:
    """The first `limit` start times with a free seat between two local days."""
    free = (
        start
        for start in _start_times_between(
            session, office, rules, first_day, last_day, now, read_seats
        )
        if start.available > 0
    )
    return list(itertools.islice(free, limit))


def _start_times_between(
    session: SessionLike,
    office: Office,
    rules: VisitRules,
    first_day: date,
    last_day: date,
    now: datetime,
    read_seats: SeatReader,
) -> Iterator[StartTime]:
    zone = office.zone
    earliest = rules.earliest_start(now)
    first_day = max(first_day, earliest.astimezone(zone).date())
    last_day = min(last_day, rules.last_day(office, now))
    if first_day > last_day:
        return iter(())
    range_start = max(local_day_bounds(first_day, zone)[0], earliest)
    range_end = local_day_bounds(last_day, zone)[1]
    # A day more than the range, so that a visit starting late on its last day is complete.
    slots = read_seats(session, office, range_start, range_end + timedelta(days=1), now)
    starts = iter_start_times(slots, rules.slots_needed(office.slot_minutes), range_end)
    # Days a lottery gives out for these services are not on first-come sale.
    by_lottery = lottery_days(session, office.id, rules.service_ids, first_day, last_day)
    if not by_lottery:
        return starts
    return (s for s in starts if s.starts_at.astimezone(zone).date() not in by_lottery)
