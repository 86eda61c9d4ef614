"""Daily figures: a report read from them is the report counted from the visits.

The histories are random (seeded): two offices, one in Seoul (no daylight saving time)
and one in Berlin over the night of 25 October 2026 (a 25-hour day), three services,
visits of one or two slots (some across midnight), every status a booking can end in,
seats left by reschedules and cancellations, blocked slots, booked visitors' tickets
(some transferred to another service), walk-ins (urgent, missed, cancelled), all at
times with microseconds. The roll-up runs on 28 October: the days until the 27th are
stored, the rest (today, the days to come) are counted from the visits.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import current_app

from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentService,
    DailyFigure,
    DailyServiceFigure,
    Office,
    ServiceType,
    Slot,
    Status,
    Ticket,
    TicketStatus,
    User,
    appointment_slot,
)
from consular.models.figures import COUNT_NAMES, SAMPLE_NAMES, WATCHES
from consular.services import figures, queue, schedule
from consular.services.booking import cancel_appointment, policy_from_config
from consular.services.reports import (
    Counts,
    DurationStats,
    Samples,
    build_report,
    day_bounds,
    runs,
    table_values,
)
from consular.services.retention import purge_personal_data
from consular.services.schedule import local_instant

FIRST, LAST = date(2026, 10, 19), date(2026, 11, 2)
# Wednesday 28 October, 12:00 UTC: in both zones the 27th is the last day that is over.
NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)
SETTLED = date(2026, 10, 27)
SLOT = timedelta(minutes=30)
# Slots of half an hour: just after midnight, the morning, the afternoon, before midnight.
SLOT_STARTS = [0, 16, 17, 18, 19, 20, 28, 29, 46, 47]
PERIODS = [
    (FIRST, LAST),  # stored days, today and days to come
    (date(2026, 10, 24), date(2026, 10, 26)),  # around Berlin's change of time
    (date(2026, 10, 27), date(2026, 10, 29)),  # the last stored day and two counted
    (date(2026, 10, 20), date(2026, 10, 20)),
    (date(2026, 10, 1), date(2026, 10, 22)),  # days before the history began
]

_numbers = itertools.count(1)


@dataclass
class History:
    offices: list[Office]
    services: list[ServiceType]


def _micro(rng: random.Random, minutes: int) -> timedelta:
    """A random duration up to `minutes`, with microseconds."""
    return timedelta(microseconds=rng.randrange(1, minutes * 60_000_000))


class HistoryMaker:
    """Writes a random history as the booking path and the queue would leave it."""

    def __init__(self, rng: random.Random, services: list[ServiceType]) -> None:
        self.rng = rng
        self.services = services
        self.held: dict[int, int] = {}  # seats held per slot
        self.seats: list[tuple[Appointment, Slot, bool, datetime | None]] = []
        self.ticket_numbers: dict[tuple[int, date], int] = {}

    def slots(self, office: Office) -> dict[datetime, Slot]:
        by_start: dict[datetime, Slot] = {}
        day = FIRST
        while day <= LAST + timedelta(days=1):
            for k in SLOT_STARTS:
                if self.rng.random() < 0.15:
                    continue  # a slot the schedule did not have
                starts_at = local_instant(day, time(k // 2, 30 * (k % 2)), office.zone)
                slot = Slot(
                    office=office,
                    starts_at=starts_at,
                    ends_at=starts_at + SLOT,
                    desks=3,
                    capacity=self.rng.randint(1, 3),
                    booked=0,
                    is_blocked=self.rng.random() < 0.08,
                )
                db.session.add(slot)
                by_start[starts_at] = slot
            day += timedelta(days=1)
        db.session.flush()
        return by_start

    def _free(self, slot: Slot) -> bool:
        return self.held.get(slot.id, 0) < slot.capacity

    def _seat(self, appointment: Appointment, slot: Slot, release_at: datetime | None) -> None:
        holds = release_at is None or self.rng.random() < 0.5
        self.seats.append((appointment, slot, holds, release_at))
        if holds:
            self.held[slot.id] = self.held.get(slot.id, 0) + 1

    def visit(self, office: Office, slots: dict[datetime, Slot], start: Slot) -> None:
        rng = self.rng
        count = 2 if rng.random() < 0.3 else 1
        taken = [slots.get(start.starts_at + SLOT * i) for i in range(count)]
        if any(slot is None or not self._free(slot) for slot in taken):
            return
        visit_slots = [slot for slot in taken if slot is not None]
        starts_at = start.starts_at
        past = starts_at < NOW
        if past:
            status = rng.choice(
                [Status.SERVED] * 4
                + [Status.NO_SHOW, Status.CANCELLED, Status.EXPIRED, Status.HELD]
                + [Status.CONFIRMED, Status.CHECKED_IN, Status.CALLED]
            )
        else:
            status = rng.choice([Status.CONFIRMED] * 3 + [Status.CANCELLED, Status.HELD])
        confirmed = status not in (Status.HELD, Status.EXPIRED)
        confirmed_at = (
            min(starts_at - timedelta(hours=2), NOW) - _micro(rng, 20 * 24 * 60)
            if confirmed
            else None
        )
        created_at = (confirmed_at or starts_at - timedelta(days=3)) - _micro(rng, 10)
        n = next(_numbers)
        appointment = Appointment(
            reference=f"{office.reference_prefix}-{n:06d}",
            office=office,
            starts_at=starts_at,
            ends_at=starts_at + SLOT * count,
            status=status,
            given_name=f"Given{n}",
            family_name=f"Family{n}",
            iin=f"{n:012d}",
            passport_number=f"N{n:08d}",
            email=f"person{n}@example.com",
            phone="010-0000-0000",
            details={},
            code_hash="x" * 64,
            hold_expires_at=created_at + timedelta(minutes=10),
            created_at=created_at,
            confirmed_at=confirmed_at,
        )
        if status == Status.CANCELLED:
            appointment.cancelled_at = min(starts_at, NOW) - _micro(rng, 60)
        elif status == Status.EXPIRED:
            appointment.expired_at = appointment.hold_expires_at
        for service in rng.sample(self.services, count):
            appointment.service_lines.append(
                AppointmentService(
                    service_type=service,
                    iin=appointment.iin,
                    # A hold takes no place among the person's bookings until confirmed.
                    is_active=status in (Status.CONFIRMED, Status.CHECKED_IN, Status.CALLED),
                    snapshot=service.snapshot(),
                )
            )
        db.session.add(appointment)
        released = status in (Status.CANCELLED, Status.EXPIRED)
        for slot in visit_slots:
            self._seat(
                appointment,
                slot,
                (appointment.cancelled_at or appointment.expired_at) if released else None,
            )
        if confirmed and rng.random() < 0.2:
            # A seat the visit left when it was moved here, given back or still due.
            left = rng.choice(list(slots.values()))
            if left not in visit_slots and self._free(left):
                self._seat(appointment, left, confirmed_at)
        if status in (Status.CHECKED_IN, Status.CALLED, Status.SERVED) or (
            status == Status.NO_SHOW and rng.random() < 0.5
        ):
            self.booked_ticket(office, appointment, status)

    def _ticket(self, office: Office, day: date, **fields: Any) -> None:
        number = self.ticket_numbers.get((office.id, day), 0) + 1
        self.ticket_numbers[(office.id, day)] = number
        db.session.add(
            Ticket(office=office, service_day=day, number=number, label=f"A-{number:03d}", **fields)
        )

    def _times(self, arrived: datetime, status: TicketStatus) -> dict[str, Any]:
        called = None if status in (TicketStatus.WAITING,) else arrived + _micro(self.rng, 50)
        if status == TicketStatus.MISSED and self.rng.random() < 0.3:
            called = None  # closed with the day, never called
        finished = (
            (called or arrived) + _micro(self.rng, 40)
            if status in (TicketStatus.SERVED, TicketStatus.MISSED)
            else None
        )
        return {
            "arrived_at": arrived,
            "first_called_at": called,
            "last_called_at": called,
            "call_count": 1 if called else 0,
            "finished_at": finished,
        }

    def booked_ticket(self, office: Office, appointment: Appointment, status: Status) -> None:
        ticket_status = {
            Status.CHECKED_IN: TicketStatus.WAITING,
            Status.CALLED: self.rng.choice([TicketStatus.CALLED, TicketStatus.PARKED]),
            Status.SERVED: TicketStatus.SERVED,
            Status.NO_SHOW: TicketStatus.MISSED,
        }[status]
        service = appointment.service_lines[0].service_type
        if self.rng.random() < 0.2:
            service = self.rng.choice(self.services)  # transferred to another service
        arrived = appointment.starts_at - _micro(self.rng, 40)
        self._ticket(
            office,
            appointment.starts_at.astimezone(office.zone).date(),
            appointment=appointment,
            service_type=service,
            status=ticket_status,
            queue_at=appointment.starts_at,
            **self._times(arrived, ticket_status),
        )

    def walk_ins(self, office: Office, day: date) -> None:
        opening = local_instant(day, time(9), office.zone)
        for _ in range(self.rng.randint(0, 4)):
            status = (
                self.rng.choice(list(TicketStatus))
                if opening < NOW - timedelta(hours=10)
                else TicketStatus.WAITING
            )
            arrived = opening + _micro(self.rng, 6 * 60)
            self._ticket(
                office,
                day,
                service_type=self.rng.choice(self.services),
                is_walk_in=True,
                is_priority=self.rng.random() < 0.2,
                status=status,
                queue_at=arrived,
                **self._times(arrived, status),
            )

    def office(self, office: Office) -> None:
        slots = self.slots(office)
        for slot in sorted(slots.values(), key=lambda s: s.starts_at):
            for _ in range(slot.capacity + 1):
                if self.rng.random() < 0.7:
                    self.visit(office, slots, slot)
        for slot in slots.values():
            slot.booked = self.held.get(slot.id, 0)
        day = FIRST
        while day <= LAST:
            if day < NOW.date():
                self.walk_ins(office, day)
            day += timedelta(days=1)
        db.session.flush()
        db.session.execute(
            sa.insert(appointment_slot),
            [
                {
                    "appointment_id": appointment.id,
                    "slot_id": slot.id,
                    "holds_seat": holds,
                    "release_at": release_at,
                    # A hold's seats go back when it runs out.
                    "hold_until": appointment.hold_expires_at
                    if appointment.status == Status.HELD and holds and release_at is None
                    else None,
                }
                for appointment, slot, holds, release_at in self.seats
            ],
        )
        self.seats.clear()


@pytest.fixture
def make_history(make_office, make_service, clock) -> Callable[[int], History]:
    clock.set(NOW)

    def make(seed: int) -> History:
        services = [make_service(f"service-{seed}-{i}") for i in range(3)]
        seoul = make_office(timezone="Asia/Seoul", slot_minutes=30, generate=False)
        berlin = make_office(timezone="Europe/Berlin", slot_minutes=30, generate=False)
        maker = HistoryMaker(random.Random(seed), services)
        maker.office(seoul)
        maker.office(berlin)
        db.session.commit()
        return History([seoul, berlin], services)

    return make


def rollup(now: datetime = NOW, settle_days: int = 1) -> int:
    """The three steps of `flask reports rollup` in this session; how many days stored."""
    offices = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    for office in offices:
        figures.reserve_days(db.session, office, now, settle_days)
    db.session.commit()
    assert figures.wait_for_writers(db.session, 10)
    stored = 0
    for office in offices:
        stored += figures.fill_days(
            db.session, office, figures.pending_days(db.session, office), now
        )
    db.session.commit()
    return stored


def stored_days_of(office: Office) -> list[date]:
    return list(
        db.session.scalars(
            sa.select(DailyFigure.day)
            .where(DailyFigure.office_id == office.id, DailyFigure.computed_at.is_not(None))
            .order_by(DailyFigure.day)
        )
    )


def assert_reports_agree(history: History, periods: list[tuple[date, date]] = PERIODS) -> None:
    """Every scope and period gives the same report from the figures as from the visits."""
    for office in [*history.offices, None]:
        for first, last in periods:
            from_figures = build_report(db.session, office, first, last, "en")
            counted = build_report(db.session, office, first, last, "en", from_figures=False)
            assert from_figures == counted, (office, first, last)
            assert table_values(from_figures) == table_values(counted)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_report_from_figures_is_the_report_counted_from_the_visits(make_history, seed):
    history = make_history(seed)

    stored = rollup()

    # Every day from the first slot to the 27th, in each office; none of the days that
    # are not over.
    assert stored == 2 * 9
    for office in history.offices:
        assert stored_days_of(office) == _stored_range()
    whole = build_report(db.session, None, FIRST, LAST, "en")
    assert whole.total.bookings > 50 and whole.total.walk_ins > 10
    assert whole.times.wait.count > 20 and whole.times.service.count > 10
    assert len(whole.services) == 3
    assert_reports_agree(history)


def test_the_report_reads_the_stored_figures(make_history):
    """The figures are used, not only stored: a figure changed behind the triggers' back
    shows in the report, and the check finds it."""
    history = make_history(4)
    rollup()
    seoul = history.offices[0]
    db.session.execute(
        sa.update(DailyFigure)
        .where(DailyFigure.office_id == seoul.id, DailyFigure.day == date(2026, 10, 21))
        .values(bookings=DailyFigure.bookings + 100)
    )
    counted = build_report(db.session, seoul, FIRST, LAST, "en", from_figures=False)
    read = build_report(db.session, seoul, FIRST, LAST, "en")
    assert read.days[2].counts.bookings == counted.days[2].counts.bookings + 100
    assert read.total.bookings == counted.total.bookings + 100
    stale = figures.stale_figures(db.session, history.offices)
    assert [(s.office_code, s.day) for s in stale] == [(seoul.code, date(2026, 10, 21))]

    figures.forget(db.session, stale)
    assert figures.stale_figures(db.session, history.offices) == []
    assert_reports_agree(history, [(FIRST, LAST)])


def test_the_rollup_is_idempotent(make_history):
    history = make_history(5)
    assert rollup() == 18
    before = db.session.execute(sa.select(DailyFigure.__table__).order_by(DailyFigure.id)).all()
    parts = db.session.execute(sa.select(DailyServiceFigure.__table__)).all()

    assert rollup() == 0
    assert rollup(NOW + timedelta(hours=1)) == 0  # still the 28th in both zones

    assert (
        db.session.execute(sa.select(DailyFigure.__table__).order_by(DailyFigure.id)).all()
        == before
    )
    assert sorted(db.session.execute(sa.select(DailyServiceFigure.__table__)).all()) == sorted(
        parts
    )
    assert rollup(NOW + timedelta(days=1)) == 2  # the 28th is over, in each office
    assert_reports_agree(history)


def test_days_with_nothing_are_stored_as_zeros(make_office, clock):
    clock.set(NOW)
    office = make_office(timezone="Asia/Seoul", generate=False)
    slot_at = local_instant(date(2026, 10, 20), time(9), office.zone)
    db.session.add(
        Slot(office=office, starts_at=slot_at, ends_at=slot_at + SLOT, capacity=2, booked=0)
    )
    db.session.commit()
    assert rollup() == 8  # the 20th (the first with anything) to the 27th
    report = build_report(db.session, office, date(2026, 10, 20), date(2026, 10, 21), "en")
    assert [row.capacity.offered for row in report.days] == [2, 0]
    assert report.services == []


# Writes that can still reach a day that is over, through the application's own services.
def _late_visit() -> Appointment:
    """A booked visit of a stored day that nobody closed: still confirmed."""
    return _first(
        sa.select(Appointment).where(
            Appointment.status == Status.CONFIRMED, Appointment.starts_at < NOW - timedelta(days=1)
        )
    )


def _day_of(appointment: Appointment) -> tuple[Office, date]:
    return appointment.office, appointment.starts_at.astimezone(appointment.office.zone).date()


def _close_a_day_late(staff: User) -> tuple[Office, date]:
    office, day = _day_of(_late_visit())
    queue.close_day(db.session, office, day, NOW)
    return office, day


def _mark_a_late_no_show(staff: User) -> tuple[Office, date]:
    late = _late_visit()
    queue.mark_no_show(db.session, late, staff, NOW, grace=timedelta(minutes=15))
    return _day_of(late)


def _resume_a_missed_ticket(staff: User) -> tuple[Office, date]:
    missed = _first(
        sa.select(Ticket).where(
            Ticket.status == TicketStatus.MISSED,
            Ticket.appointment_id.is_not(None),
            Ticket.service_day <= SETTLED,
        )
    )
    queue.resume(db.session, missed, staff, NOW)  # the visit is attended again
    return missed.office, missed.service_day


def _block_a_past_slot(staff: User) -> tuple[Office, date]:
    slot = _first(
        sa.select(Slot).where(Slot.is_blocked.is_(False), Slot.starts_at < NOW - timedelta(days=2))
    )
    schedule.set_slot_blocked(db.session, slot, True, staff, NOW)
    return slot.office, slot.starts_at.astimezone(slot.office.zone).date()


def _cancel_a_past_visit(staff: User) -> tuple[Office, date]:
    late = _late_visit()
    cancel_appointment(
        db.session,
        late,
        "the office was closed that day",
        NOW,
        policy_from_config(current_app.config),
        enforce_cutoff=False,
        notify=False,
    )
    return _day_of(late)


def _first(query: sa.Select) -> Any:
    found = db.session.scalars(query.order_by(sa.text("id"))).first()
    assert found is not None, "the history has one"
    return found


@pytest.mark.parametrize(
    "write",
    [
        _close_a_day_late,
        _mark_a_late_no_show,
        _resume_a_missed_ticket,
        _block_a_past_slot,
        _cancel_a_past_visit,
    ],
)
def test_a_write_to_a_stored_day_forgets_that_day(make_history, write):
    history = make_history(6)
    staff = User(email="late@example.com", name="Late", password_hash="x", role="admin")
    db.session.add(staff)
    rollup()
    before = {(office.id, day) for office in history.offices for day in stored_days_of(office)}
    report_before = build_report(db.session, None, FIRST, LAST, "en")

    office, day = write(staff)
    db.session.commit()

    assert day <= SETTLED
    after = {(office.id, day) for office in history.offices for day in stored_days_of(office)}
    forgotten = before - after
    # The day written to; at most the days of the visit's other seats besides.
    assert (office.id, day) in forgotten and len(forgotten) <= 3
    assert build_report(db.session, None, FIRST, LAST, "en") != report_before
    assert figures.stale_figures(db.session, history.offices) == []
    assert_reports_agree(history, [(FIRST, LAST)])

    assert rollup() == len(forgotten)
    assert_reports_agree(history, [(FIRST, LAST)])


def _a_row_of_a_stored_day(table: str, office: Office) -> int:
    """A row of `table` that the office's stored figure of 21 October counted."""
    day = date(2026, 10, 21)
    start, end = local_instant(day, time(0), office.zone), local_instant(day, time(23), office.zone)
    seat = appointment_slot.c
    query: sa.Select[Any] = {
        "appointment": sa.select(Appointment.id).where(
            Appointment.office_id == office.id,
            Appointment.starts_at.between(start, end),
            Appointment.confirmed_at.is_not(None),
        ),
        "appointment_service": sa.select(AppointmentService.id)
        .join(Appointment)
        .where(Appointment.office_id == office.id, Appointment.starts_at.between(start, end)),
        "appointment_slot": sa.select(seat.appointment_id)
        .join(Slot, Slot.id == seat.slot_id)
        .where(Slot.office_id == office.id, Slot.starts_at.between(start, end)),
        # One that no seat was taken in: a slot with seats can't be deleted.
        "slot": sa.select(Slot.id).where(
            Slot.office_id == office.id,
            Slot.starts_at.between(start, end),
            ~sa.exists().where(seat.slot_id == Slot.id),
        ),
        "ticket": sa.select(Ticket.id).where(
            Ticket.office_id == office.id, Ticket.service_day == day
        ),
    }[table]
    found = db.session.scalars(query.order_by(sa.text("1")).limit(1)).first()
    assert found is not None, f"the history has a {table} row on {day}"
    return found


def _key(table: str) -> str:
    """The column naming a row of `table` (a seat: its appointment, whose seats all go)."""
    return "appointment_id" if table == "appointment_slot" else "id"


def test_every_column_the_report_reads_forgets_its_day(make_history):
    """Naming a column in an UPDATE is enough for its trigger, even with the same value;
    each write is rolled back, so the history stays as it was."""
    history = make_history(7)
    seoul = history.offices[0]
    rollup()
    for watch in WATCHES:
        row = _a_row_of_a_stored_day(watch.table, seoul)
        for column in watch.columns:
            nested = db.session.begin_nested()
            db.session.execute(
                sa.text(
                    f"UPDATE {watch.table} SET {column} = {column} WHERE {_key(watch.table)} = :row"
                ),
                {"row": row},
            )
            remaining = stored_days_of(seoul)
            assert remaining == [d for d in _stored_range() if d != date(2026, 10, 21)], column
            assert len(stored_days_of(history.offices[1])) == 9
            nested.rollback()
    assert stored_days_of(seoul) == _stored_range()


def _stored_range() -> list[date]:
    return [FIRST + timedelta(days=i) for i in range((SETTLED - FIRST).days + 1)]


def test_columns_the_report_does_not_read_keep_the_figures(make_history):
    history = make_history(8)
    rollup()
    db.session.execute(sa.update(Appointment).values(given_name="Changed", sequence=5))
    db.session.execute(sa.update(Slot).values(booked=Slot.booked, desks=Slot.desks))
    db.session.execute(sa.update(appointment_slot).values(holds_seat=appointment_slot.c.holds_seat))
    db.session.execute(sa.update(Ticket).values(note="changed", call_count=Ticket.call_count))
    db.session.execute(sa.update(AppointmentService).values(is_active=AppointmentService.is_active))
    # Holds never confirmed count nowhere: whatever becomes of them changes no figure.
    db.session.execute(
        sa.update(Appointment)
        .where(Appointment.confirmed_at.is_(None))
        .values(status=Appointment.status, starts_at=Appointment.starts_at)
    )
    assert [stored_days_of(office) for office in history.offices] == [_stored_range()] * 2


def test_a_row_deleted_from_a_stored_day_forgets_it(make_history):
    """(An appointment's seats and services go with it, and forget the day too.)"""
    history = make_history(9)
    seoul = history.offices[0]
    free = local_instant(date(2026, 10, 21), time(5, 5), seoul.zone)
    db.session.add(Slot(office=seoul, starts_at=free, ends_at=free + SLOT, capacity=1))
    db.session.commit()
    rollup()
    for watch in WATCHES:
        row = _a_row_of_a_stored_day(watch.table, seoul)
        nested = db.session.begin_nested()
        db.session.execute(
            sa.text(f"DELETE FROM {watch.table} WHERE {_key(watch.table)} = :row"), {"row": row}
        )
        remaining = stored_days_of(seoul)
        assert remaining == [d for d in _stored_range() if d != date(2026, 10, 21)], watch.table
        nested.rollback()


def test_a_row_added_to_a_stored_day_forgets_it(make_history):
    history = make_history(15)
    seoul, berlin = history.offices
    rollup()
    extra = local_instant(date(2026, 10, 21), time(5, 5), seoul.zone)
    db.session.add(Slot(office=seoul, starts_at=extra, ends_at=extra + SLOT, capacity=1))
    db.session.add(
        Ticket(
            office=berlin,
            service_day=date(2026, 10, 22),
            number=999,
            label="A-999",
            is_walk_in=True,
            status=TicketStatus.SERVED,
            queue_at=extra,
            arrived_at=extra,
        )
    )
    db.session.flush()
    assert date(2026, 10, 21) not in stored_days_of(seoul)
    assert date(2026, 10, 22) not in stored_days_of(berlin)
    assert len(stored_days_of(seoul)) == len(stored_days_of(berlin)) == 8
    assert_reports_agree(history, [(FIRST, LAST)])


def test_a_slot_moved_between_stored_days_forgets_both(make_history):
    history = make_history(10)
    seoul = history.offices[0]
    rollup()
    slot = _first(
        sa.select(Slot).where(
            Slot.office_id == seoul.id,
            Slot.starts_at >= local_instant(date(2026, 10, 20), time(16), seoul.zone),
        )
    )
    source = slot.starts_at.astimezone(seoul.zone).date()
    nested = db.session.begin_nested()
    target = local_instant(date(2026, 10, 23), time(3, 7), seoul.zone)
    db.session.execute(
        sa.update(Slot).where(Slot.id == slot.id).values(starts_at=target, ends_at=target + SLOT)
    )
    gone = set(_stored_range()) - set(stored_days_of(seoul))
    assert gone == {source, date(2026, 10, 23)}
    nested.rollback()


def test_a_booking_moved_between_stored_days_forgets_both(make_history):
    """(Its seats stay where they were: only the visit's own day moves.)"""
    history = make_history(17)
    seoul = history.offices[0]
    rollup()
    moved = _first(
        sa.select(Appointment).where(
            Appointment.office_id == seoul.id,
            Appointment.confirmed_at.is_not(None),
            Appointment.starts_at >= local_instant(date(2026, 10, 20), time(16), seoul.zone),
        )
    )
    nested = db.session.begin_nested()
    target = local_instant(date(2026, 10, 24), time(3, 7), seoul.zone)
    db.session.execute(
        sa.update(Appointment)
        .where(Appointment.id == moved.id)
        .values(starts_at=target, ends_at=target + SLOT)
    )
    gone = set(_stored_range()) - set(stored_days_of(seoul))
    seat_days = {
        starts_at.astimezone(seoul.zone).date()
        for starts_at in db.session.scalars(
            sa.select(Slot.starts_at)
            .join(appointment_slot, appointment_slot.c.slot_id == Slot.id)
            .where(appointment_slot.c.appointment_id == moved.id)
        )
    }
    assert gone == ({date(2026, 10, 20), date(2026, 10, 24)} | seat_days) & set(_stored_range())
    nested.rollback()


def test_the_purge_keeps_the_figures(make_history, clock):
    history = make_history(11)
    rollup()
    stored = [stored_days_of(office) for office in history.offices]
    report = build_report(db.session, None, FIRST, LAST, "en")
    clock.set(NOW + timedelta(days=200))

    purged = purge_personal_data(db.session, clock(), 180)
    db.session.commit()

    assert purged.appointments > 50
    assert [stored_days_of(office) for office in history.offices] == stored
    assert build_report(db.session, None, FIRST, LAST, "en") == report


def test_a_new_zone_counts_the_days_anew(make_history):
    history = make_history(12)
    berlin = history.offices[1]
    rollup()
    berlin.timezone = "Asia/Almaty"
    db.session.flush()

    # The stored days counted Berlin's hours: until the roll-up, the report counts anew.
    assert_reports_agree(history, [(FIRST, LAST), (date(2026, 10, 25), date(2026, 10, 25))])
    assert rollup() == 9
    assert stored_days_of(berlin) == _stored_range()
    bounds = day_bounds(berlin, FIRST, SETTLED)
    assert (
        db.session.scalars(
            sa.select(DailyFigure.day_starts_at)
            .where(DailyFigure.office_id == berlin.id)
            .order_by(DailyFigure.day)
        ).all()
        == bounds[:-1]
    )
    assert_reports_agree(history, [(FIRST, LAST)])


def test_durations_are_exact_in_microseconds():
    stats = DurationStats.of([3, 1, 4, 2])
    assert stats == DurationStats(
        count=4, median=timedelta(microseconds=2), mean=timedelta(microseconds=2)
    )  # halfway between 2 and 3 is 2.5, rounded to the even microsecond; 10 / 4 also
    odd = DurationStats.of([86_400_000_001, 7, 5])
    assert odd.median == timedelta(microseconds=7)
    assert odd.mean == timedelta(hours=8, microseconds=4)  # 86,400,000,013 / 3, rounded
    assert DurationStats.of([]) == DurationStats()


def test_the_settle_delay_is_at_least_a_day(make_office):
    office = make_office(generate=False)
    assert figures.last_settled_day(office, NOW, 1) == date(2026, 10, 27)
    assert figures.last_settled_day(office, NOW, 3) == date(2026, 10, 25)
    with pytest.raises(ValueError):
        figures.last_settled_day(office, NOW, 0)


# Writers racing the roll-up on PostgreSQL, where transactions really overlap.
@pytest.fixture
def other_connection(app, database_url) -> Iterator[sa.Connection]:
    """A clerk's request in a transaction of its own."""
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        yield connection
        connection.rollback()
    engine.dispose()


def _no_show_statement(appointment_id: int) -> sa.Update:
    return (
        sa.update(Appointment)
        .where(Appointment.id == appointment_id)
        .values(status=Status.NO_SHOW, no_show_at=NOW)
    )


@pytest.mark.postgresql_only
def test_the_rollup_waits_for_a_writer_that_began_before_the_days_were_reserved(
    make_history, other_connection
):
    history = make_history(13)
    late = _late_visit()
    # A clerk's transaction marks the visit absent before the roll-up reserves its day:
    # its trigger finds no figure to forget.
    other_connection.execute(_no_show_statement(late.id))
    for office in history.offices:
        figures.reserve_days(db.session, office, NOW, 1)
    db.session.commit()

    assert not figures.wait_for_writers(db.session, 0.3)
    other_connection.commit()
    assert figures.wait_for_writers(db.session, 10)
    for office in history.offices:
        figures.fill_days(db.session, office, figures.pending_days(db.session, office), NOW)
    db.session.commit()

    # The figure counted the no-show (the line is freed as close-day would).
    db.session.execute(
        sa.update(AppointmentService)
        .where(AppointmentService.appointment_id == late.id)
        .values(is_active=False)
    )
    db.session.commit()
    assert figures.stale_figures(db.session, history.offices) == []
    assert_reports_agree(history, [(FIRST, LAST)])


@pytest.mark.postgresql_only
def test_a_writer_that_comes_while_a_day_is_counted_forgets_it_after(
    make_history, other_connection
):
    history = make_history(14)
    late = _late_visit()
    day = late.starts_at.astimezone(late.office.zone).date()
    for office in history.offices:
        figures.reserve_days(db.session, office, NOW, 1)
    db.session.commit()
    assert figures.wait_for_writers(db.session, 10)
    office = late.office
    assert figures.fill_days(db.session, office, [day], NOW) == 1  # locked, not committed

    done = threading.Event()
    failures: list[BaseException] = []

    no_show = _no_show_statement(late.id)
    free_lines = (
        sa.update(AppointmentService)
        .where(AppointmentService.appointment_id == late.id)
        .values(is_active=False)
    )

    def write() -> None:
        try:
            other_connection.execute(no_show)
            other_connection.execute(free_lines)
            other_connection.commit()
            done.set()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    # The writer waits for the lock on the figure being stored.
    for _ in range(200):
        waiting = db.session.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        )
        if waiting:
            break
        threading.Event().wait(0.05)
    assert waiting and not done.is_set()
    db.session.commit()
    writer.join(30)
    assert not failures and done.is_set()

    assert day not in stored_days_of(office)
    assert figures.stale_figures(db.session, history.offices) == []
    assert_reports_agree(history, [(FIRST, LAST)])


def test_the_commands_roll_up_and_check(make_history, app):
    history = make_history(16)
    seoul, berlin = history.offices
    runner = app.test_cli_runner()

    first = runner.invoke(args=["reports", "rollup"])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        f"{seoul.code}: 9 days stored",
        f"{berlin.code}: 9 days stored",
    ]
    again = runner.invoke(args=["reports", "rollup", "--office", berlin.code])
    assert again.output.splitlines() == [f"{berlin.code}: 0 days stored"]
    checked = runner.invoke(args=["reports", "check"])
    assert checked.exit_code == 0 and "match" in checked.output

    db.session.execute(
        sa.update(DailyFigure)
        .where(DailyFigure.office_id == berlin.id, DailyFigure.day == date(2026, 10, 25))
        .values(seats_offered=0)
    )
    db.session.commit()
    stale = runner.invoke(args=["reports", "check"])
    assert stale.exit_code == 1
    assert f"{berlin.code} 2026-10-25: stored figures differ" in stale.output
    fixed = runner.invoke(args=["reports", "check", "--forget"])
    assert fixed.exit_code == 0 and "1 days forgotten" in fixed.output
    assert date(2026, 10, 25) not in stored_days_of(berlin)
    assert runner.invoke(args=["reports", "rollup"]).output.splitlines()[1] == (
        f"{berlin.code}: 1 days stored"
    )


def test_stored_columns_follow_the_fields_they_are_read_into():
    assert COUNT_NAMES == tuple(f.name for f in fields(Counts))
    assert SAMPLE_NAMES == tuple(f.name for f in fields(Samples))


def test_days_are_counted_in_runs_of_consecutive_days():
    assert runs([]) == []
    assert runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
