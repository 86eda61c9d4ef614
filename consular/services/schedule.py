"""Turn an office's opening hours, desks and closures into bookable slots."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa
from sqlalchemy.orm import Session

from consular.models import Closure, ClosureKind, Office, OpeningPeriod, Slot

HOLIDAY_COUNTRIES: dict[str, str] = {"KR": "Korean public holiday", "KZ": "Kazakh public holiday"}


@dataclass(frozen=True)
class PlannedSlot:
    starts_at: datetime
    ends_at: datetime
    capacity: int


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in a zone.

    A time skipped by a DST change is read with the offset before the change (so it
    falls just after the gap); a repeated time is taken at its first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def planned_slots(
    periods: list[OpeningPeriod],
    closures: list[Closure],
    zone: ZoneInfo,
    slot_minutes: int,
    first_day: date,
    last_day: date,
) -> Iterator[PlannedSlot]:
    """Yield the slots the schedule gives between two local days, inclusive."""
    length = timedelta(minutes=slot_minutes)
    by_weekday: dict[int, list[OpeningPeriod]] = {}
    for period in periods:
        by_weekday.setdefault(period.weekday, []).append(period)
    day = first_day
    while day <= last_day:
        if not any(closure.covers(day) for closure in closures):
            for period in sorted(by_weekday.get(day.weekday(), []), key=lambda p: p.opens_at):
                start = local_instant(day, period.opens_at, zone)
                closes = local_instant(day, period.closes_at, zone)
                while start + length <= closes:
                    yield PlannedSlot(start, start + length, period.desks)
                    start += length
        day += timedelta(days=1)


@dataclass
class SlotChanges:
    created: int = 0
    updated: int = 0
    removed: int = 0
    # Slots the schedule no longer has but that still carry bookings: kept, for staff to resolve.
    orphaned: int = 0


def sync_slots(session: Session, office: Office, now: datetime, horizon_days: int) -> SlotChanges:
    """Make the office's future slots match its schedule; safe to run again and again."""
    zone = office.zone
    today = now.astimezone(zone).date()
    last_day = today + timedelta(days=horizon_days)
    window_start = local_instant(today, time(0), zone)
    planned = {
        slot.starts_at: slot
        for slot in planned_slots(
            list(office.opening_periods),
            [c for c in office.closures if c.is_active],
            zone,
            office.slot_minutes,
            today,
            last_day,
        )
        if slot.starts_at >= now
    }
    existing = {
        slot.starts_at: slot
        for slot in session.scalars(
            sa.select(Slot).where(
                Slot.office_id == office.id,
                Slot.starts_at >= max(window_start, now),
            )
        )
    }
    changes = SlotChanges()
    for starts_at, slot in existing.items():
        plan = planned.get(starts_at)
        if plan is not None and plan.ends_at == slot.ends_at:
            capacity = max(plan.capacity, slot.booked)
            if slot.capacity != capacity:
                slot.capacity = capacity
                changes.updated += 1
        elif slot.booked == 0:
            session.delete(slot)
            changes.removed += 1
        else:
            changes.orphaned += 1
    new_rows = [
        {
            "office_id": office.id,
            "starts_at": plan.starts_at,
            "ends_at": plan.ends_at,
            "capacity": plan.capacity,
            "booked": 0,
            "is_blocked": False,
        }
        for starts_at, plan in planned.items()
        if starts_at not in existing
    ]
    session.flush()
    if new_rows:
        session.execute(sa.insert(Slot), new_rows)
        changes.created = len(new_rows)
    return changes


def load_public_holidays(session: Session, office: Office, years: list[int]) -> int:
    """Add Korean and Kazakh public holidays as closures; removed ones stay removed."""
    known = set(
        session.scalars(
            sa.select(Closure.holiday_key).where(
                Closure.office_id == office.id, Closure.holiday_key.is_not(None)
            )
        )
    )
    added = 0
    for country, label in HOLIDAY_COUNTRIES.items():
        for day, name in sorted(holidays.country_holidays(country, years=years).items()):
            key = f"{country}:{day.isoformat()}"
            if key in known:
                continue
            session.add(
                Closure(
                    office=office,
                    first_day=day,
                    last_day=day,
                    reason=f"{label}: {name}",
                    kind=ClosureKind.HOLIDAY,
                    holiday_key=key,
                )
            )
            known.add(key)
            added += 1
    session.flush()
    return added
