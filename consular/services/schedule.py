"""Turn an office's opening hours, desks and closures into bookable slots."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from consular.database import SessionLike, rows_changed
from consular.models import (
    Appointment,
    Closure,
    ClosureKind,
    Office,
    OpeningPeriod,
    Slot,
    Status,
    User,
    appointment_slot,
)
from consular.models.i18n import LANGUAGES
from consular.services import notifications, seats
from consular.services.audit import record
from consular.services.errors import ValidationFailed

if TYPE_CHECKING:
    from consular.services.booking import BookingPolicy

HOLIDAY_COUNTRIES: dict[str, str] = {"KR": "Korean public holiday", "KZ": "Kazakh public holiday"}
# The language of the `holidays` package's names for each of ours, by country: its own
# language where it has it, else English (its Ukrainian is no Russian).
HOLIDAY_LANGUAGES: dict[str, dict[str, str]] = {
    "KR": {"ko": "ko"},
    "KZ": {"kk": "kk"},
}
HOLIDAY_FALLBACK_LANGUAGE = "en_US"


@dataclass(frozen=True)
class PlannedSlot:
    starts_at: datetime
    ends_at: datetime
    desks: int


def walk_in_seats(desk_slots: int, walk_in_share: int) -> int:
    """Seats of a day kept for walk-ins: the share of its desk-slots, rounded up."""
    return math.ceil(desk_slots * walk_in_share / 100)


def withheld_seats(desks: Sequence[int], walk_in_share: int) -> list[int]:
    """How many seats of each slot of a day online booking leaves to walk-ins.

    The day keeps walk_in_seats() seats in all, spread evenly over the day: the day's seats
    are numbered slot after slot, and the seats kept are evenly spaced among them. No slot
    keeps more than its desks (as the share is at most 100 %, the kept seats are at least
    one seat apart).
    """
    total = sum(desks)
    kept = min(total, walk_in_seats(total, walk_in_share))
    withheld = [0] * len(desks)
    if kept == 0:
        return withheld
    slot, first_seat_after = 0, desks[0]
    for number in range(kept):
        # The middle of the number-th of `kept` equal parts of the day's seats.
        seat = (2 * number + 1) * total // (2 * kept)
        while seat >= first_seat_after:
            slot += 1
            first_seat_after += desks[slot]
        withheld[slot] += 1
    return withheld


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in a zone.

    A time skipped by a DST change is read with the offset before the change (so it
    falls just after the gap); a repeated time is taken at its first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which a local day begins and the next one begins (23 or 25
    hours apart on a day of DST change)."""
    return local_instant(day, time(0), zone), local_instant(day + timedelta(days=1), time(0), zone)


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
            periods_of_day = [p for p in by_weekday.get(day.weekday(), []) if p.applies_on(day)]
            for period in sorted(periods_of_day, key=lambda p: p.opens_at):
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


def online_capacities(
    slots: Sequence[PlannedSlot], walk_in_share: int, zone: ZoneInfo
) -> dict[datetime, int]:
    """The seats online booking may take in each planned slot, by start: each local day
    withholds its walk-in seats (withheld_seats), so that the day's walk-in allowance and
    the seats kept from online booking are the same number."""
    by_day: dict[date, list[PlannedSlot]] = {}
    for slot in sorted(slots, key=lambda s: s.starts_at):
        by_day.setdefault(slot.starts_at.astimezone(zone).date(), []).append(slot)
    capacities: dict[datetime, int] = {}
    for day_slots in by_day.values():
        withheld = withheld_seats([s.desks for s in day_slots], walk_in_share)
        for slot, kept in zip(day_slots, withheld, strict=True):
            capacities[slot.starts_at] = slot.desks - kept
    return capacities


def _move_withholding_from_booked_seats(
    capacities: dict[datetime, int],
    desks: dict[datetime, int],
    booked: dict[datetime, int],
    zone: ZoneInfo,
) -> None:
    """Where seats a slot would keep for walk-ins are already booked, keep as many seats in
    other slots of the same day that still have free ones: the fewest kept first, then the
    earliest. The bookings stay; only what is too many to move elsewhere is lost that day."""
    by_day: dict[date, list[datetime]] = {}
    for starts_at in sorted(capacities):
        by_day.setdefault(starts_at.astimezone(zone).date(), []).append(starts_at)
    for starts in by_day.values():
        # Only seats this slot itself withheld: bookings beyond its desks were never walk-ins'.
        missing = sum(max(0, min(booked.get(s, 0), desks[s]) - capacities[s]) for s in starts)
        for _seat in range(missing):
            free = [s for s in starts if capacities[s] > booked.get(s, 0)]
            if not free:
                break
            target = min(free, key=lambda s: (desks[s] - capacities[s], s))
            capacities[target] -= 1


def _at_least_booked(capacity: int) -> sa.ColumnElement[int]:
    """A capacity that never goes below the seats booked at the moment the row is written,
    even if a booking commits between reading the slot and updating it."""
    return sa.case((Slot.booked > capacity, Slot.booked), else_=capacity)


def sync_slots(
    session: SessionLike, office: Office, now: datetime, horizon_days: int
) -> SlotChanges:
    """Make the office's future slots match its schedule; safe to run again and again."""
    zone = office.zone
    today = now.astimezone(zone).date()
    last_day = today + timedelta(days=horizon_days)
    window_start = local_instant(today, time(0), zone)
    whole_days = list(
        planned_slots(
            list(office.opening_periods),
            [c for c in office.closures if c.is_active],
            zone,
            office.slot_minutes,
            today,
            last_day,
        )
    )
    # Today's passed slots count too, so the share is spread the same way all day long.
    capacities = online_capacities(whole_days, office.walk_in_share, zone)
    planned = {slot.starts_at: slot for slot in whole_days if slot.starts_at >= now}
    existing = {
        slot.starts_at: slot
        for slot in session.scalars(
            sa.select(Slot).where(
                Slot.office_id == office.id,
                Slot.starts_at >= max(window_start, now),
            )
        )
    }
    targets = {starts_at: capacities[starts_at] for starts_at in planned}
    _move_withholding_from_booked_seats(
        targets,
        {starts_at: plan.desks for starts_at, plan in planned.items()},
        {starts_at: slot.booked for starts_at, slot in existing.items() if starts_at in planned},
        zone,
    )
    leaving = [
        slot.id
        for starts_at, slot in existing.items()
        if starts_at not in planned or planned[starts_at].ends_at != slot.ends_at
    ]
    # Seats due back (expired holds, cancellations past their delay) don't keep a slot alive.
    seats.release_due_seats(session, now, slot_ids=leaving)
    changes = SlotChanges()
    unwanted: list[int] = []
    for starts_at, slot in existing.items():
        plan = planned.get(starts_at)
        if plan is not None and plan.ends_at == slot.ends_at:
            capacity = max(targets[starts_at], slot.booked)
            if slot.capacity != capacity or slot.outside_schedule or slot.desks != plan.desks:
                slot.capacity = _at_least_booked(targets[starts_at])
                slot.desks = plan.desks
                slot.outside_schedule = slot.is_kept = False
                changes.updated += 1
        elif slot.booked == 0:
            unwanted.append(slot.id)
        else:
            # Bookings are never dropped silently: the slot stays, closed to new bookings,
            # until a manager keeps or cancels the appointments in it.
            slot.capacity = Slot.booked
            slot.outside_schedule = True
            changes.orphaned += 1
    new_rows = [
        {
            "office_id": office.id,
            "starts_at": plan.starts_at,
            "ends_at": plan.ends_at,
            "desks": plan.desks,
            "capacity": targets[starts_at],
            "booked": 0,
            "is_blocked": False,
            "outside_schedule": False,
            "is_kept": False,
        }
        for starts_at, plan in planned.items()
        if starts_at not in existing
    ]
    session.flush()
    changes.removed = seats.remove_free_slots(session, unwanted)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Slot) and loaded.id in unwanted:
            session.expunge(loaded)
    if changes.removed < len(unwanted):
        # Booked in the meantime: kept out of the schedule like any booked slot.
        kept = session.execute(
            sa.update(Slot)
            .where(Slot.id.in_(unwanted))
            .values(capacity=Slot.booked, outside_schedule=True)
            .execution_options(synchronize_session=False)
        )
        changes.orphaned += rows_changed(kept)
    if new_rows:
        session.execute(sa.insert(Slot), new_rows)
        changes.created = len(new_rows)
    return changes


def load_public_holidays(session: SessionLike, office: Office, years: list[int]) -> int:
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


@functools.lru_cache(maxsize=64)
def _holiday_names(country: str, year: int, language: str) -> dict[date, str]:
    return dict(holidays.country_holidays(country, years=year, language=language).items())


def holiday_name(country: str, day: date, locale: str) -> str | None:
    """The name of a public holiday in the reader's language (English where the `holidays`
    package has none in it), or None if the package knows no holiday that day."""
    language = (locale or "en").split("_")[0]
    wanted = HOLIDAY_LANGUAGES.get(country, {}).get(language, HOLIDAY_FALLBACK_LANGUAGE)
    return _holiday_names(country, day.year, wanted).get(day)


def closure_text(closure: Closure, locale: str) -> str:
    """The reason of a closure as a reader of `locale` should see it: a public holiday's
    name in that language, a manager's reason as written."""
    if closure.kind == ClosureKind.HOLIDAY and closure.holiday_key:
        country, _sep, iso_day = closure.holiday_key.partition(":")
        try:
            name = holiday_name(country, date.fromisoformat(iso_day), locale)
        except ValueError:
            name = None
        if name and country == "KR":
            return _("Korean public holiday: %(name)s", name=name)
        if name and country == "KZ":
            return _("Kazakh public holiday: %(name)s", name=name)
    return closure.reason


def public_closed_days(
    session: SessionLike, office: Office, first_day: date, last_day: date, locale: str
) -> dict[date, str | None]:
    """The office's closed days between two local days, inclusive, with the reasons the
    public may read (joined when several closures share a day); None for a day whose every
    reason is for staff only."""
    closures = session.scalars(
        sa.select(Closure)
        .where(
            Closure.office_id == office.id,
            Closure.is_active.is_(True),
            Closure.first_day <= last_day,
            Closure.last_day >= first_day,
        )
        .order_by(Closure.first_day, Closure.id)
    )
    reasons: dict[date, list[str]] = {}
    for closure in closures:
        text = closure_text(closure, locale) if closure.is_reason_public else ""
        day = max(closure.first_day, first_day)
        while day <= min(closure.last_day, last_day):
            known = reasons.setdefault(day, [])
            if text and text not in known:
                known.append(text)
            day += timedelta(days=1)
    return {day: "; ".join(texts) or None for day, texts in sorted(reasons.items())}


def affected_appointments_query(office: Office) -> sa.Select:
    """Active appointments holding seats in slots the schedule no longer has, not yet kept."""
    return (
        sa.select(Appointment)
        .where(
            Appointment.office_id == office.id,
            Appointment.status.in_([Status.HELD, Status.CONFIRMED]),
            Appointment.id.in_(
                sa.select(appointment_slot.c.appointment_id)
                .join(Slot, Slot.id == appointment_slot.c.slot_id)
                .where(
                    Slot.outside_schedule.is_(True),
                    Slot.is_kept.is_(False),
                    appointment_slot.c.holds_seat.is_(True),
                    appointment_slot.c.release_at.is_(None),
                )
            ),
        )
        .order_by(Appointment.starts_at)
    )


def has_affected_appointments(session: SessionLike, office: Office) -> bool:
    """Whether some appointments wait for a manager's decision (affected_appointments_query)."""
    return bool(session.scalar(sa.select(affected_appointments_query(office).exists())))


def default_cancellation_messages() -> dict[str, str]:
    """The message to citizens whose visit a schedule change cancels, in each language, for
    the manager to start from."""
    messages = {}
    for language in LANGUAGES:
        with force_locale(language):
            messages[language] = _(
                "We are sorry: the office had to change its opening hours, and your visit no "
                "longer fits in them. Please choose a new time at the link below."
            )
    return messages


def cancel_affected(
    session: SessionLike,
    appointment: Appointment,
    messages: dict[str, str],
    actor: User,
    now: datetime,
    policy: BookingPolicy,
) -> str:
    """Cancel an appointment whose slots left the schedule and email the citizen, in their
    language, the manager's message written in it (none if that one was left empty); return
    the message sent."""
    # Booking reads the schedule's day bounds (through availability): imported when used.
    from consular.services import booking

    message = (messages.get(appointment.language) or "").strip()[:1000]
    booking.cancel_appointment(
        session, appointment, message, now, policy, enforce_cutoff=False, notify=False
    )
    notifications.queue_schedule_change_email(session, appointment, message, now)
    record(
        session,
        actor,
        now,
        "cancel_for_schedule",
        appointment,
        office_id=appointment.office_id,
        after={"message": message, "language": appointment.language},
    )
    return message


def keep_affected(
    session: SessionLike, appointment: Appointment, actor: User, now: datetime
) -> None:
    """Keep an appointment whose slots left the schedule: they stay, full to new bookings."""
    for slot in appointment.slots:
        if slot.outside_schedule:
            slot.is_kept = True
            slot.capacity = Slot.booked
    session.flush()
    record(
        session,
        actor,
        now,
        "keep_outside_schedule",
        appointment,
        office_id=appointment.office_id,
    )


@dataclass(frozen=True)
class PeriodSpec:
    """Opening hours as a manager asks for them: a weekday's block, on the days between
    `valid_from` and `valid_until` (both included, None: no bound)."""

    weekday: int
    opens_at: time
    closes_at: time
    desks: int
    valid_from: date | None = None
    valid_until: date | None = None

    @classmethod
    def of(cls, period: OpeningPeriod) -> PeriodSpec:
        return cls(
            period.weekday,
            period.opens_at,
            period.closes_at,
            period.desks,
            period.valid_from,
            period.valid_until,
        )

    def shares_days_with(self, other: PeriodSpec) -> bool:
        """Whether both apply on some same day: the same weekday and overlapping dates."""
        return (
            self.weekday == other.weekday
            and (self.valid_from or date.min) <= (other.valid_until or date.max)
            and (other.valid_from or date.min) <= (self.valid_until or date.max)
        )


def _check_periods(periods: Sequence[PeriodSpec]) -> None:
    for period in periods:
        if not period.opens_at < period.closes_at:
            raise ValidationFailed({"periods": [_("A period must close after it opens.")]})
        if not 1 <= period.desks <= 100:
            raise ValidationFailed({"periods": [_("Desks must be between 1 and 100.")]})
        if period.valid_from and period.valid_until and period.valid_until < period.valid_from:
            raise ValidationFailed({"periods": [_("A period must end after it begins.")]})
    for n, first in enumerate(periods):
        for second in periods[n + 1 :]:
            if (
                first.shares_days_with(second)
                and first.opens_at < second.closes_at
                and second.opens_at < first.closes_at
            ):
                raise ValidationFailed({"periods": [_("Two periods of the same day overlap.")]})


def replace_opening_periods(
    session: SessionLike,
    office: Office,
    periods: Sequence[PeriodSpec],
    actor: User,
    now: datetime,
    horizon_days: int,
) -> SlotChanges:
    """Set the office's weekly hours and desks in one step, then regenerate its slots; periods
    that ended before today are dropped."""
    today = now.astimezone(office.zone).date()
    kept = [p for p in periods if p.valid_until is None or p.valid_until >= today]
    _check_periods(kept)
    before = [_period_text(PeriodSpec.of(p)) for p in office.opening_periods]
    office.opening_periods.clear()
    session.flush()
    for spec in kept:
        office.opening_periods.append(
            OpeningPeriod(
                weekday=spec.weekday,
                opens_at=spec.opens_at,
                closes_at=spec.closes_at,
                desks=spec.desks,
                valid_from=spec.valid_from,
                valid_until=spec.valid_until,
            )
        )
    session.flush()
    record(
        session,
        actor,
        now,
        "opening_hours",
        office,
        office_id=office.id,
        before={"periods": before},
        after={"periods": [_period_text(PeriodSpec.of(p)) for p in office.opening_periods]},
    )
    return sync_slots(session, office, now, horizon_days)


def _period_text(period: PeriodSpec) -> str:
    text = f"{period.weekday} {period.opens_at:%H:%M}-{period.closes_at:%H:%M} x{period.desks}"
    if period.valid_from:
        text += f" from {period.valid_from.isoformat()}"
    if period.valid_until:
        text += f" until {period.valid_until.isoformat()}"
    return text


def _period_of(office: Office, period_id: int) -> OpeningPeriod:
    period = next((p for p in office.opening_periods if p.id == period_id), None)
    if period is None:
        raise ValidationFailed({"periods": [_("This period is no longer in the schedule.")]})
    return period


def _from_day(period: OpeningPeriod, effective_from: date | None, today: date) -> date | None:
    """The first day a change of the period takes effect on, or None for the whole period
    (a change from today, or from before the period begins)."""
    if effective_from is None or effective_from <= max(today, period.valid_from or today):
        return None
    if period.valid_until is not None and effective_from > period.valid_until:
        raise ValidationFailed(
            {"effective_from": [_("The period ends before that day: choose an earlier day.")]}
        )
    return effective_from


def _changed_from(
    office: Office,
    period: OpeningPeriod,
    replacement: list[PeriodSpec],
    effective_from: date | None,
    today: date,
) -> list[PeriodSpec]:
    """The office's periods with `period` replaced by `replacement` (dates left unset) from
    a day on: before it, the period stays as it was."""
    others = [PeriodSpec.of(p) for p in office.opening_periods if p.id != period.id]
    start = _from_day(period, effective_from, today)
    old = PeriodSpec.of(period)
    if start is None:
        dated = [
            PeriodSpec(r.weekday, r.opens_at, r.closes_at, r.desks, old.valid_from, old.valid_until)
            for r in replacement
        ]
        return others + dated
    ended = PeriodSpec(
        old.weekday, old.opens_at, old.closes_at, old.desks, old.valid_from, start - timedelta(1)
    )
    dated = [
        PeriodSpec(r.weekday, r.opens_at, r.closes_at, r.desks, start, old.valid_until)
        for r in replacement
    ]
    return [*others, ended, *dated]


def change_period(
    session: SessionLike,
    office: Office,
    period_id: int,
    opens_at: time,
    closes_at: time,
    desks: int,
    effective_from: date | None,
    actor: User,
    now: datetime,
    horizon_days: int,
) -> SlotChanges:
    """Change one period's hours and desks in place, from a day on (from today if none)."""
    period = _period_of(office, period_id)
    today = now.astimezone(office.zone).date()
    changed = PeriodSpec(period.weekday, opens_at, closes_at, desks)
    periods = _changed_from(office, period, [changed], effective_from, today)
    return replace_opening_periods(session, office, periods, actor, now, horizon_days)


def add_break(
    session: SessionLike,
    office: Office,
    period_id: int,
    starts_at: time,
    ends_at: time,
    effective_from: date | None,
    actor: User,
    now: datetime,
    horizon_days: int,
) -> SlotChanges:
    """Split one period by a break, in one step, from a day on (from today if none)."""
    period = _period_of(office, period_id)
    if not period.opens_at < starts_at < ends_at < period.closes_at:
        raise ValidationFailed(
            {
                "break": [
                    _(
                        "A break must begin after %(opens)s and end before %(closes)s.",
                        opens=f"{period.opens_at:%H:%M}",
                        closes=f"{period.closes_at:%H:%M}",
                    )
                ]
            }
        )
    today = now.astimezone(office.zone).date()
    parts = [
        PeriodSpec(period.weekday, period.opens_at, starts_at, period.desks),
        PeriodSpec(period.weekday, ends_at, period.closes_at, period.desks),
    ]
    periods = _changed_from(office, period, parts, effective_from, today)
    return replace_opening_periods(session, office, periods, actor, now, horizon_days)


def remove_period(
    session: SessionLike,
    office: Office,
    period_id: int,
    effective_from: date | None,
    actor: User,
    now: datetime,
    horizon_days: int,
) -> SlotChanges:
    """Take one period out of the schedule from a day on (from today if none)."""
    period = _period_of(office, period_id)
    today = now.astimezone(office.zone).date()
    periods = _changed_from(office, period, [], effective_from, today)
    return replace_opening_periods(session, office, periods, actor, now, horizon_days)


def removal_impact_query(
    office: Office, period: OpeningPeriod, effective_from: date | None, now: datetime
) -> sa.Select:
    """Active appointments that start in the period's hours on its days, from a day on (from
    today if none), after now: those a removal would leave outside the schedule."""
    zone = office.zone
    today = now.astimezone(zone).date()
    first = max(today, effective_from or today, period.valid_from or today)
    # No booking is further ahead than a year and a month.
    last = min(period.valid_until or date.max, today + timedelta(days=400))
    windows = []
    day = first + timedelta(days=(period.weekday - first.weekday()) % 7)
    while day <= last:
        opens = local_instant(day, period.opens_at, zone)
        closes = local_instant(day, period.closes_at, zone)
        windows.append(
            sa.and_(
                Appointment.starts_at >= max(opens, now),
                Appointment.starts_at < closes,
            )
        )
        day += timedelta(days=7)
    return (
        sa.select(Appointment)
        .where(
            Appointment.office_id == office.id,
            Appointment.status.in_([Status.HELD, Status.CONFIRMED]),
            sa.or_(sa.false(), *windows),
        )
        .order_by(Appointment.starts_at)
    )


def add_closure(
    session: SessionLike,
    office: Office,
    first_day: date,
    last_day: date,
    reason: str,
    actor: User,
    now: datetime,
    horizon_days: int,
    *,
    is_reason_public: bool = True,
) -> SlotChanges:
    """Close the office for a day or a range of days, then regenerate its slots. The reason
    is shown to the public unless it is for staff only."""
    if last_day < first_day:
        raise ValidationFailed({"last_day": [_("The last day is before the first day.")]})
    if (last_day - first_day).days > 366:
        raise ValidationFailed({"last_day": [_("A closure can last at most a year.")]})
    closure = Closure(
        office=office,
        first_day=first_day,
        last_day=last_day,
        reason=reason.strip()[:500],
        kind=ClosureKind.MANUAL,
        is_reason_public=is_reason_public,
    )
    session.add(closure)
    session.flush()
    record(
        session,
        actor,
        now,
        "add_closure",
        closure,
        office_id=office.id,
        after={
            "first_day": first_day.isoformat(),
            "last_day": last_day.isoformat(),
            "reason": closure.reason,
            "public": is_reason_public,
        },
    )
    session.refresh(office, ["closures"])
    return sync_slots(session, office, now, horizon_days)


def remove_closure(
    session: SessionLike, closure: Closure, actor: User, now: datetime, horizon_days: int
) -> SlotChanges:
    """Reopen the days of a closure; a public holiday stays removed when holidays reload."""
    closure.is_active = False
    session.flush()
    record(
        session,
        actor,
        now,
        "remove_closure",
        closure,
        office_id=closure.office_id,
        before={"first_day": closure.first_day.isoformat(), "reason": closure.reason},
    )
    office = closure.office
    session.refresh(office, ["closures"])
    return sync_slots(session, office, now, horizon_days)


def set_slot_blocked(
    session: SessionLike, slot: Slot, blocked: bool, actor: User, now: datetime
) -> None:
    """Block a single slot from online booking, or reopen it."""
    before = slot.is_blocked
    slot.is_blocked = blocked
    session.flush()
    record(
        session,
        actor,
        now,
        "block_slot" if blocked else "reopen_slot",
        slot,
        office_id=slot.office_id,
        before={"blocked": before},
        after={"blocked": blocked},
    )


def update_booking_settings(
    session: SessionLike,
    office: Office,
    is_open: bool,
    messages: dict[str, str],
    walk_in_share: int,
    actor: User,
    now: datetime,
    horizon_days: int,
) -> SlotChanges:
    """Open or close online booking (closing needs a public message) and set the share of
    desks kept for walk-ins, which changes the slots' online capacity."""
    if not 0 <= walk_in_share <= 90:
        raise ValidationFailed(
            {"walk_in_share": [_("The walk-in share must be between 0 and 90 percent.")]}
        )
    cleaned = {lang: text.strip()[:500] for lang, text in messages.items() if text.strip()}
    if not is_open and not cleaned:
        raise ValidationFailed(
            {"message": [_("When online booking is closed, write a message for the public.")]}
        )
    before = {
        "open": office.booking_open,
        "message": dict(office.booking_closed_message or {}),
        "walk_in_share": office.walk_in_share,
    }
    office.booking_open = is_open
    office.booking_closed_message = cleaned
    office.walk_in_share = walk_in_share
    session.flush()
    record(
        session,
        actor,
        now,
        "booking_settings",
        office,
        office_id=office.id,
        before=before,
        after={"open": is_open, "message": cleaned, "walk_in_share": walk_in_share},
    )
    return sync_slots(session, office, now, horizon_days)
