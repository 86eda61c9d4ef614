"""Slot generation: hours, breaks, desks, closures, holidays, DST, and idempotence."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from consular.extensions import db
from consular.models import Closure, ClosureKind, OpeningPeriod, Slot
from consular.services import queue
from consular.services.schedule import (
    load_public_holidays,
    planned_slots,
    sync_slots,
    walk_in_seats,
    withheld_seats,
)

BERLIN = ZoneInfo("Europe/Berlin")
SEOUL = ZoneInfo("Asia/Seoul")


def _period(weekday: int, opens: time, closes: time, desks: int = 1) -> OpeningPeriod:
    return OpeningPeriod(weekday=weekday, opens_at=opens, closes_at=closes, desks=desks)


def _local_slots(office_id: int, zone: ZoneInfo, day: date) -> list[tuple[str, int]]:
    slots = db.session.scalars(
        sa.select(Slot).where(Slot.office_id == office_id).order_by(Slot.starts_at)
    )
    return [
        (s.starts_at.astimezone(zone).strftime("%H:%M"), s.capacity)
        for s in slots
        if s.starts_at.astimezone(zone).date() == day
    ]


def test_slots_follow_hours_and_desks_and_skip_the_break(make_office) -> None:
    office = make_office(
        slot_minutes=30,
        periods=[(0, time(9), time(10), 3), (0, time(11), time(12), 2)],
    )
    monday = date(2026, 11, 30)
    assert _local_slots(office.id, SEOUL, monday) == [
        ("09:00", 3),
        ("09:30", 3),
        ("11:00", 2),
        ("11:30", 2),
    ]


def test_weekend_and_closures_have_no_slots(app, make_office, clock) -> None:
    office = make_office(slot_minutes=60, periods=[(d, time(9), time(10), 1) for d in range(7)])
    db.session.add(Closure(office=office, first_day=date(2026, 12, 2), last_day=date(2026, 12, 3)))
    db.session.flush()
    sync_slots(db.session, office, clock(), 10)
    days = {
        s.starts_at.astimezone(SEOUL).date()
        for s in db.session.scalars(sa.select(Slot).where(Slot.office_id == office.id))
    }
    assert date(2026, 12, 1) in days
    assert date(2026, 12, 2) not in days and date(2026, 12, 3) not in days
    assert date(2026, 12, 4) in days


# Seats counted straight into the slot, without appointments: the invariants can't hold.
@pytest.mark.corrupts_data
def test_sync_is_idempotent_and_keeps_booked_slots(app, make_office, clock) -> None:
    office = make_office(slot_minutes=30, periods=[(0, time(9), time(10), 2)])
    before = db.session.scalars(sa.select(Slot.id).order_by(Slot.id)).all()
    again = sync_slots(db.session, office, clock(), 60)
    assert (again.created, again.removed, again.updated) == (0, 0, 0)
    assert db.session.scalars(sa.select(Slot.id).order_by(Slot.id)).all() == before

    first = db.session.scalar(sa.select(Slot).order_by(Slot.starts_at))
    first.booked = 1
    db.session.add(
        Closure(office=office, first_day=date(2026, 11, 30), last_day=date(2026, 11, 30))
    )
    db.session.flush()
    db.session.refresh(office)
    changes = sync_slots(db.session, office, clock(), 60)
    assert changes.removed == 1  # the free 09:30 slot of that Monday
    assert changes.orphaned == 1  # the booked 09:00 slot stays for staff to resolve
    assert db.session.get(Slot, first.id) is not None


# Seats counted straight into the slot, without appointments: the invariants can't hold.
@pytest.mark.corrupts_data
def test_fewer_desks_never_cut_capacity_below_bookings(app, make_office, clock) -> None:
    office = make_office(slot_minutes=60, periods=[(0, time(9), time(10), 3)])
    slot = db.session.scalar(sa.select(Slot).order_by(Slot.starts_at))
    slot.booked = 2
    office.opening_periods[0].desks = 1
    db.session.flush()
    sync_slots(db.session, office, clock(), 60)
    assert slot.capacity == 2
    later = db.session.scalars(sa.select(Slot).where(Slot.id != slot.id)).all()
    assert later and all(s.capacity == 1 for s in later)


def test_public_holidays_load_once_and_removed_ones_stay_removed(app, make_office) -> None:
    office = make_office(generate=False)
    added = load_public_holidays(db.session, office, [2026])
    assert added > 20  # Korean and Kazakh holidays
    keys = set(db.session.scalars(sa.select(Closure.holiday_key)))
    assert {"KR:2026-09-25", "KZ:2026-12-16", "KR:2026-01-01", "KZ:2026-01-01"} <= keys
    independence = db.session.scalar(
        sa.select(Closure).where(Closure.holiday_key == "KZ:2026-12-16")
    )
    assert independence.kind == ClosureKind.HOLIDAY and independence.covers(date(2026, 12, 16))
    independence.is_active = False
    db.session.flush()
    assert load_public_holidays(db.session, office, [2026]) == 0
    assert not independence.covers(date(2026, 12, 16))


def test_holiday_closures_remove_the_days_slots(app, make_office, clock) -> None:
    office = make_office(generate=False)
    load_public_holidays(db.session, office, [2026, 2027])
    db.session.refresh(office)
    sync_slots(db.session, office, clock(), 60)
    days = {
        s.starts_at.astimezone(SEOUL).date()
        for s in db.session.scalars(sa.select(Slot).where(Slot.office_id == office.id))
    }
    assert date(2026, 12, 16) not in days  # Kazakhstan's Independence Day, a Wednesday
    assert date(2026, 12, 25) not in days  # Christmas, a public holiday in Korea
    assert date(2026, 12, 17) in days


def test_slots_in_a_dst_zone_keep_wall_clock_hours() -> None:
    periods = [_period(d, time(9), time(12)) for d in range(7)]
    # Europe/Berlin leaves summer time on 2026-10-25.
    slots = list(planned_slots(periods, [], BERLIN, 60, date(2026, 10, 24), date(2026, 10, 26)))
    local = [s.starts_at.astimezone(BERLIN).strftime("%d %H:%M") for s in slots]
    assert local == [f"{d} {h}:00" for d in (24, 25, 26) for h in ("09", "10", "11")]
    utc_hours = [s.starts_at.hour for s in slots]
    assert utc_hours[:3] == [7, 8, 9] and utc_hours[3:] == [8, 9, 10] * 2


def test_night_hours_across_a_dst_change_follow_real_time() -> None:
    # 2026-03-29 02:00 does not exist in Berlin; 2026-10-25 02:00-03:00 happens twice.
    periods = [_period(6, time(1), time(4))]
    spring = list(planned_slots(periods, [], BERLIN, 60, date(2026, 3, 29), date(2026, 3, 29)))
    autumn = list(planned_slots(periods, [], BERLIN, 60, date(2026, 10, 25), date(2026, 10, 25)))
    assert len(spring) == 2  # 01:00 to 04:00 lasts two real hours that night
    assert len(autumn) == 4  # and four real hours in October
    for slots in (spring, autumn):
        assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in slots)
        assert all(a.ends_at <= b.starts_at for a, b in zip(slots, slots[1:], strict=False))


ZONES = ["Asia/Seoul", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]


@st.composite
def schedules(draw):
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    slot_minutes = draw(st.sampled_from([10, 15, 20, 30, 60]))
    periods = []
    for weekday in draw(st.sets(st.integers(0, 6), min_size=1)):
        opens_minute = draw(st.integers(0, 22 * 60))
        length = draw(st.integers(slot_minutes, 6 * 60))
        closes_minute = min(opens_minute + length, 24 * 60 - 1)
        if closes_minute <= opens_minute:
            continue
        periods.append(
            _period(
                weekday,
                time(opens_minute // 60, opens_minute % 60),
                time(closes_minute // 60, closes_minute % 60),
                draw(st.integers(1, 5)),
            )
        )
    first = draw(st.dates(date(2026, 1, 1), date(2027, 12, 1)))
    return zone, slot_minutes, periods, first


@settings(max_examples=150, deadline=None)
@given(schedules())
def test_generated_slots_are_ordered_disjoint_and_inside_opening_hours(case) -> None:
    zone, slot_minutes, periods, first = case
    last = first + timedelta(days=10)
    slots = list(planned_slots(periods, [], zone, slot_minutes, first, last))
    starts = [s.starts_at for s in slots]
    assert len(set(starts)) == len(starts)
    ordered = sorted(slots, key=lambda s: s.starts_at)
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert a.ends_at <= b.starts_at
    for slot in slots:
        assert slot.starts_at.tzinfo == UTC
        assert slot.ends_at - slot.starts_at == timedelta(minutes=slot_minutes)
        local_day = None
        for period in periods:
            for day in (first + timedelta(days=n) for n in range(11)):
                if day.weekday() != period.weekday:
                    continue
                opens = datetime.combine(day, period.opens_at, tzinfo=zone)
                closes = datetime.combine(day, period.closes_at, tzinfo=zone)
                if opens <= slot.starts_at and slot.ends_at <= closes:
                    local_day = day
                    assert slot.desks == period.desks
        assert local_day is not None, "a slot outside every opening period"


# The walk-in share: what online booking leaves free is what the walk-in counter may issue.


@pytest.mark.parametrize(
    ("desks", "share", "withheld"),
    [
        ([2] * 4, 0, [0, 0, 0, 0]),
        ([2] * 4, 10, [0, 0, 1, 0]),  # 10 % of 8 seats, rounded up: 1, at the 5th seat
        ([2] * 4, 50, [1, 1, 1, 1]),
        ([2] * 4, 90, [2, 2, 2, 2]),  # 7.2 rounds up to 8: every seat
        ([3, 3, 1, 1], 25, [1, 0, 1, 0]),  # the 3rd and the 7th of 8 seats
        ([1], 100, [1]),
        ([], 20, []),
    ],
)
def test_withheld_seats_spread_the_days_share(desks, share, withheld) -> None:
    assert withheld_seats(desks, share) == withheld


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 20), max_size=60), st.integers(0, 100))
def test_withheld_seats_add_up_to_the_walk_in_seats_and_fit_the_desks(desks, share) -> None:
    withheld = withheld_seats(desks, share)
    assert sum(withheld) == walk_in_seats(sum(desks), share)
    assert all(0 <= kept <= open_desks for kept, open_desks in zip(withheld, desks, strict=True))
    assert withheld_seats(desks, share) == withheld  # deterministic


def _day_slots(office, day: date) -> list[Slot]:
    return [
        s
        for s in db.session.scalars(
            sa.select(Slot).where(Slot.office_id == office.id).order_by(Slot.starts_at)
        )
        if s.starts_at.astimezone(SEOUL).date() == day
    ]


def test_two_desks_at_ten_percent_keep_six_seats_a_day(app, make_office, clock) -> None:
    # 09:00-12:30 and 14:00-17:00 in 15 minutes: 26 slots of 2 desks, 52 desk-slots a day.
    office = make_office(desks=2)
    office.walk_in_share = 10
    db.session.flush()
    sync_slots(db.session, office, clock(), 60)
    monday = date(2026, 11, 30)
    slots = _day_slots(office, monday)
    assert len(slots) == 26 and {s.desks for s in slots} == {2}
    kept = {s.starts_at.astimezone(SEOUL).strftime("%H:%M"): s.desks - s.capacity for s in slots}
    assert sum(kept.values()) == 6  # 5.2 rounded up
    assert [at for at, seats in kept.items() if seats] == [
        "09:30",
        "10:30",
        "11:30",
        "14:15",
        "15:15",
        "16:15",
    ]
    nine = datetime.combine(monday, time(9), tzinfo=SEOUL)
    assert queue.walk_in_allowance(db.session, office, nine) == 6
    again = sync_slots(db.session, office, clock(), 60)
    assert (again.created, again.removed, again.updated) == (0, 0, 0)


@pytest.mark.parametrize("share", [0, 10, 20, 35, 90])
def test_every_day_withholds_exactly_its_walk_in_allowance(app, make_office, clock, share):
    office = make_office(
        periods=[(0, time(9), time(12, 30), 3), (0, time(14), time(17), 2)]
        + [(day, time(9), time(13), 1) for day in (1, 2)]
    )
    office.walk_in_share = share
    db.session.flush()
    sync_slots(db.session, office, clock(), 10)
    for day in (date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)):
        slots = _day_slots(office, day)
        moment = datetime.combine(day, time(8), tzinfo=SEOUL)
        assert sum(s.desks - s.capacity for s in slots) == queue.walk_in_allowance(
            db.session, office, moment
        )
        assert all(0 <= s.capacity <= s.desks for s in slots)


# Seats counted straight into the slot, without appointments: the invariants can't hold.
@pytest.mark.corrupts_data
def test_the_share_spreads_around_booked_seats(app, make_office, clock) -> None:
    # Four one-hour slots of 2 desks; at 50 % each keeps one seat, but 09:00 is fully booked.
    office = make_office(slot_minutes=60, periods=[(0, time(9), time(13), 2)])
    slots = _day_slots(office, date(2026, 11, 30))
    slots[0].booked = 2
    office.walk_in_share = 50
    db.session.flush()
    sync_slots(db.session, office, clock(), 60)
    assert [s.capacity for s in slots] == [2, 0, 1, 1]  # 10:00 keeps both seats instead
    assert sum(s.desks - s.capacity for s in slots) == 4
    again = sync_slots(db.session, office, clock(), 60)
    assert (again.created, again.removed, again.updated) == (0, 0, 0)
    slots[0].booked = 1  # a cancellation: the seat goes back to where the spread puts it
    db.session.flush()
    sync_slots(db.session, office, clock(), 60)
    assert [s.capacity for s in slots] == [1, 1, 1, 1]


# Seats counted straight into the slot, without appointments: the invariants can't hold.
@pytest.mark.corrupts_data
def test_bookings_beyond_a_slots_desks_withhold_nothing_more(app, make_office, clock) -> None:
    # 09:00 lost a desk after three bookings: the extra booking was never a walk-in seat.
    office = make_office(slot_minutes=60, periods=[(0, time(9), time(13), 2)])
    slots = _day_slots(office, date(2026, 11, 30))
    slots[0].booked = slots[0].capacity = 3
    office.walk_in_share = 20  # 20 % of 8 desk-slots, rounded up: 2 seats
    db.session.flush()
    sync_slots(db.session, office, clock(), 60)
    assert slots[0].capacity == 3
    assert sum(max(0, s.desks - s.capacity) for s in slots) == 2
    assert queue.walk_in_allowance(db.session, office, slots[0].starts_at) == 2


# Seats counted straight into the slot, without appointments: the invariants can't hold.
@pytest.mark.corrupts_data
def test_a_booking_made_while_the_slots_are_synced_is_never_squeezed_out(
    app, make_office, clock
) -> None:
    office = make_office(slot_minutes=60, periods=[(0, time(9), time(10), 2)])
    (slot, *_later) = db.session.scalars(sa.select(Slot).order_by(Slot.starts_at)).all()
    assert slot.booked == 0 and slot.capacity == 2
    # Both seats are booked by another request after this session read the slot.
    db.session.execute(
        sa.update(Slot)
        .where(Slot.id == slot.id)
        .values(booked=2)
        .execution_options(synchronize_session=False)
    )
    office.walk_in_share = 50
    db.session.flush()
    sync_slots(db.session, office, clock(), 60)  # would break CHECK booked <= capacity
    db.session.refresh(slot)
    assert slot.booked == slot.capacity == 2
