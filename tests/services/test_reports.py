"""Reports, checked number by number against a seeded history whose counts are known.

The history: two offices in Seoul's zone, three services, three days (Mon 30 November to
Wed 2 December 2026) plus a visit just after them. In Seoul: a served visit for two
services, a no-show, a cancellation, an expired hold and an abandoned hold (neither is
a booking), a walk-in and a cancelled walk-in ticket on Monday; on Tuesday a served visit
at 08:30 (still Monday in UTC), a visitor checked in but never called, a visit still
pending and an urgent walk-in; nothing on Wednesday; a booking on Thursday at 08:30
(Wednesday in UTC). In Busan: a served visit and a no-show on Monday, a served visit and
a walk-in on Wednesday.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentService,
    Office,
    ServiceType,
    Slot,
    Status,
    Ticket,
    TicketStatus,
    appointment_slot,
)
from consular.services.reports import (
    InvalidPeriod,
    build_report,
    day_bounds,
    report_table,
    table_values,
)
from consular.services.retention import purge_personal_data

KST = ZoneInfo("Asia/Seoul")
MON, TUE, WED, THU = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

_people = itertools.count(1)
_references = itertools.count(1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Korea, as the UTC instant stored."""
    return datetime.combine(day, time(hour, minute), tzinfo=KST).astimezone(UTC)


def add_slots(
    office: Office, day: date, times: list[time], capacity: int, blocked: set[time] = frozenset()
) -> None:
    """Slots of 15 minutes at the given local times, each with `capacity` seats online."""
    for start in times:
        starts_at = at(day, start.hour, start.minute)
        db.session.add(
            Slot(
                office=office,
                starts_at=starts_at,
                ends_at=starts_at + 15 * MINUTE,
                desks=capacity + 1,
                capacity=capacity,
                booked=0,
                is_blocked=start in blocked,
            )
        )
    db.session.flush()


def quarter_hours(first: time, last: time) -> list[time]:
    """Every quarter of an hour from `first` to `last`, inclusive."""
    moments, current = [], datetime.combine(MON, first)
    while current.time() <= last:
        moments.append(current.time())
        current += 15 * MINUTE
    return moments


def add_visit(
    office: Office,
    starts_at: datetime,
    services: list[ServiceType],
    status: Status,
    lead: timedelta | None,
) -> Appointment:
    """An appointment as the booking path leaves it; `lead` None: never confirmed."""
    n = next(_people)
    ends_at = starts_at + 15 * MINUTE * len(services)
    confirmed_at = starts_at - lead if lead is not None else None
    created_at = (confirmed_at or starts_at - 2 * DAY) - 5 * MINUTE
    appointment = Appointment(
        reference=f"{office.reference_prefix}-{next(_references):06d}",
        office=office,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
        given_name=f"Secretname{n}",
        family_name=f"Familyname{n}",
        iin=f"9001013{n:05d}",
        passport_number=f"N{70000000 + n}",
        email=f"applicant{n}@example.com",
        phone=f"010-5555-{n:04d}",
        details={"note": f"private answer {n}"},
        code_hash="x" * 64,
        hold_expires_at=created_at + 10 * MINUTE,
        created_at=created_at,
        confirmed_at=confirmed_at,
    )
    ended = starts_at + 30 * MINUTE
    if status == Status.CANCELLED:
        appointment.cancelled_at = starts_at - DAY
        appointment.cancel_reason = f"Secretname{n} is ill"
    elif status == Status.EXPIRED:
        appointment.expired_at = appointment.hold_expires_at
    elif status == Status.NO_SHOW:
        appointment.no_show_at = ended
    elif status in (Status.SERVED, Status.CHECKED_IN):
        appointment.checked_in_at = starts_at - 10 * MINUTE
        if status == Status.SERVED:
            appointment.served_at = ended
    # A hold takes no place among the person's bookings until it is confirmed.
    active = status in (Status.CONFIRMED, Status.CHECKED_IN)
    for service in services:
        appointment.service_lines.append(
            AppointmentService(
                service_type=service,
                iin=appointment.iin,
                is_active=active,
                snapshot=service.snapshot(),
            )
        )
    db.session.add(appointment)
    db.session.flush()
    released = status in (Status.CANCELLED, Status.EXPIRED)
    slot_ids = db.session.scalars(
        sa.select(Slot.id).where(
            Slot.office_id == office.id, Slot.starts_at >= starts_at, Slot.starts_at < ends_at
        )
    ).all()
    assert len(slot_ids) == len(services), "every visit lies in seeded slots"
    db.session.execute(
        sa.insert(appointment_slot),
        [
            {
                "appointment_id": appointment.id,
                "slot_id": slot_id,
                "holds_seat": True,
                "release_at": (appointment.cancelled_at or appointment.expired_at)
                if released
                else None,
                "hold_until": appointment.hold_expires_at if status == Status.HELD else None,
            }
            for slot_id in slot_ids
        ],
    )
    # The seats count in their slots, as the booking path would have left them.
    db.session.execute(sa.update(Slot).where(Slot.id.in_(slot_ids)).values(booked=Slot.booked + 1))
    return appointment


def add_ticket(
    office: Office,
    day: date,
    service: ServiceType,
    arrived: tuple[int, int],
    called: tuple[int, int] | None,
    finished: tuple[int, int] | None,
    *,
    status: TicketStatus = TicketStatus.SERVED,
    appointment: Appointment | None = None,
    urgent: bool = False,
) -> Ticket:
    """A queue ticket with its check-in (or issue), first call and finish as local times."""
    number = 1 + (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Ticket)
            .where(Ticket.office_id == office.id, Ticket.service_day == day)
        )
        or 0
    )
    ticket = Ticket(
        office=office,
        service_day=day,
        number=number,
        label=f"{office.ticket_prefix}-{number:03d}",
        appointment=appointment,
        service_type=service,
        is_walk_in=appointment is None,
        is_priority=urgent,
        status=status,
        queue_at=appointment.starts_at if appointment else at(day, *arrived),
        arrived_at=at(day, *arrived),
        first_called_at=at(day, *called) if called else None,
        last_called_at=at(day, *called) if called else None,
        finished_at=at(day, *finished) if finished else None,
        call_count=1 if called else 0,
        note="late, with a private remark",
    )
    db.session.add(ticket)
    db.session.flush()
    return ticket


@dataclass
class History:
    seoul: Office
    busan: Office
    passport: ServiceType
    visa: ServiceType
    notary: ServiceType
    appointments: dict[str, Appointment]


@pytest.fixture
def history(make_office, make_service) -> History:
    passport = make_service(
        "passport", name={"en": "Passport", "ru": "Паспорт", "ko": "여권", "kk": "Төлқұжат"}
    )
    visa = make_service("visa", name={"en": "Visa", "ru": "Виза"})
    notary = make_service("notary", name={"en": "Notary", "ru": "Нотариат"})
    services = [passport, visa, notary]
    seoul = make_office("seoul", services=services, generate=False)
    busan = make_office("busan", services=services, generate=False)
    seoul.ticket_prefix, busan.ticket_prefix = "S", "B"

    seoul_times = [*quarter_hours(time(8, 30), time(11, 15)), time(14)]  # 13 slots
    for day in (MON, TUE, WED, THU):
        add_slots(seoul, day, seoul_times, 2, blocked={time(11, 15)} if day == MON else set())
        add_slots(busan, day, quarter_hours(time(9), time(10, 45)), 1)  # 8 slots

    s = {
        "a1": add_visit(seoul, at(MON, 9), [passport, visa], Status.SERVED, 10 * DAY),
        "a2": add_visit(seoul, at(MON, 9, 30), [passport], Status.NO_SHOW, DAY),
        "a3": add_visit(seoul, at(MON, 10), [visa], Status.CANCELLED, 5 * DAY),
        "a4": add_visit(seoul, at(MON, 10), [passport], Status.EXPIRED, None),
        "a5": add_visit(seoul, at(MON, 10, 15), [passport], Status.HELD, None),
        "a6": add_visit(seoul, at(TUE, 8, 30), [passport], Status.SERVED, DAY),
        "a7": add_visit(seoul, at(TUE, 11), [visa], Status.CHECKED_IN, 3 * DAY),
        "a8": add_visit(seoul, at(TUE, 14), [passport], Status.CONFIRMED, 2 * DAY),
        "a9": add_visit(seoul, at(THU, 8, 30), [passport], Status.CONFIRMED, DAY),
        "b1": add_visit(busan, at(MON, 9), [passport], Status.SERVED, 3 * DAY),
        "b2": add_visit(busan, at(MON, 9, 15), [passport], Status.NO_SHOW, 2 * HOUR),
        "b3": add_visit(busan, at(WED, 10), [notary], Status.SERVED, 10 * DAY),
    }
    add_ticket(seoul, MON, passport, (8, 50), (9, 5), (9, 25), appointment=s["a1"])
    add_ticket(seoul, MON, notary, (10, 0), (10, 10), (10, 30))
    add_ticket(seoul, MON, passport, (10, 40), None, None, status=TicketStatus.CANCELLED)
    add_ticket(seoul, TUE, passport, (8, 20), (8, 40), (8, 50), appointment=s["a6"])
    # Still in the queue (the day is not closed yet): the visit's outcome is pending.
    add_ticket(
        seoul, TUE, visa, (10, 55), None, None, status=TicketStatus.WAITING, appointment=s["a7"]
    )
    add_ticket(seoul, TUE, passport, (9, 0), (9, 2), (9, 20), urgent=True)
    add_ticket(busan, MON, passport, (8, 55), (9, 0), (9, 10), appointment=s["b1"])
    add_ticket(busan, WED, notary, (9, 50), (10, 10), (10, 40), appointment=s["b3"])
    add_ticket(busan, WED, visa, (11, 0), (11, 30), (11, 45))
    db.session.commit()
    return History(seoul, busan, passport, visa, notary, s)


def days_of(report) -> dict[date, tuple]:
    """Per day: bookings, cancellations, attended, no-shows, pending, walk-ins, offered,
    booked."""
    return {
        row.day: (
            row.counts.bookings,
            row.counts.cancellations,
            row.counts.attended,
            row.counts.no_shows,
            row.counts.pending,
            row.counts.walk_ins,
            row.capacity.offered,
            row.capacity.booked,
        )
        for row in report.days
    }


def minutes(stats) -> tuple:
    """(count, median, mean) of durations, in minutes."""
    return (
        stats.count,
        None if stats.median is None else stats.median / MINUTE,
        None if stats.mean is None else stats.mean / MINUTE,
    )


def days(stats) -> tuple:
    """(count, median, mean) of durations, in days."""
    return (
        stats.count,
        None if stats.median is None else stats.median / DAY,
        None if stats.mean is None else stats.mean / DAY,
    )


def test_seoul_by_day_counts_bookings_outcomes_walk_ins_and_seats(history):
    report = build_report(db.session, history.seoul, MON, WED, "en")

    assert days_of(report) == {
        # 5 appointments on Monday, but the expired and the abandoned hold are no bookings;
        # the cancelled walk-in ticket is no walk-in; the blocked 11:15 slot offers nothing.
        MON: (3, 1, 1, 1, 0, 1, 24, 3),  # a1 takes two seats (two services), a2 one
        TUE: (3, 0, 2, 0, 1, 1, 26, 3),  # a6 at 08:30 KST belongs here, not to Monday (UTC)
        WED: (0, 0, 0, 0, 0, 0, 26, 0),  # Thursday 08:30 KST (Wednesday in UTC) is not here
    }
    monday, tuesday, wednesday = report.days
    assert monday.counts.no_show_rate == 0.5
    assert tuesday.counts.no_show_rate == 0.0
    assert wednesday.counts.no_show_rate is None
    assert monday.capacity.use == 3 / 24
    assert tuesday.capacity.use == 3 / 26
    assert wednesday.capacity.use == 0.0


def test_seoul_totals_and_times(history):
    report = build_report(db.session, history.seoul, MON, WED, "en")

    total = report.total
    assert (total.bookings, total.cancellations, total.attended) == (6, 1, 3)
    assert (total.no_shows, total.pending, total.walk_ins) == (1, 1, 2)
    assert total.due == 4 and total.no_show_rate == 0.25
    assert (report.capacity.offered, report.capacity.booked) == (76, 6)
    assert report.capacity.use == 6 / 76
    # Lead times of the six bookings: 10, 1, 5, 1, 3 and 2 days.
    assert days(report.times.lead) == (6, 2.5, pytest.approx(22 / 6))
    # Waits: 15, 10, 20 and 2 minutes (a7 was never called); services 20, 20, 10, 18.
    assert minutes(report.times.wait) == (4, 12.5, 11.75)
    assert minutes(report.times.service) == (4, 19, 17)

    monday, tuesday, wednesday = report.days
    assert days(monday.times.lead) == (3, 5, pytest.approx(16 / 3))
    assert days(tuesday.times.lead) == (3, 2, 2)
    assert minutes(monday.times.wait) == (2, 12.5, 12.5)
    assert minutes(monday.times.service) == (2, 20, 20)
    assert minutes(tuesday.times.wait) == (2, 11, 11)
    assert minutes(tuesday.times.service) == (2, 14, 14)
    assert days(wednesday.times.lead) == (0, None, None)
    assert minutes(wednesday.times.wait) == (0, None, None)


def test_seoul_by_service_counts_a_visit_once_per_service(history):
    report = build_report(db.session, history.seoul, MON, WED, "en")

    rows = {row.code: row for row in report.services}
    assert [row.code for row in report.services] == ["passport", "visa", "notary"]
    assert [row.name for row in report.services] == ["Passport", "Visa", "Notary"]
    passport, visa, notary = rows["passport"], rows["visa"], rows["notary"]
    c = passport.counts
    assert (c.bookings, c.cancellations, c.attended, c.no_shows, c.pending, c.walk_ins) == (
        4,
        0,
        2,
        1,
        1,
        1,
    )
    assert c.no_show_rate == pytest.approx(1 / 3)
    c = visa.counts
    assert (c.bookings, c.cancellations, c.attended, c.no_shows, c.pending, c.walk_ins) == (
        3,
        1,
        2,
        0,
        0,
        0,
    )
    c = notary.counts
    assert (c.bookings, c.walk_ins, c.no_show_rate) == (0, 1, None)
    # The two-service visit a1 counts for both: 4 + 3 bookings for 6 visits.
    assert sum(row.counts.bookings for row in report.services) == 7

    assert days(passport.times.lead) == (4, 1.5, 3.5)
    assert days(visa.times.lead) == (3, 5, 6)
    assert minutes(passport.times.wait) == (3, 15, pytest.approx(37 / 3))
    assert minutes(passport.times.service) == (3, 18, 16)
    assert minutes(visa.times.wait) == (0, None, None)  # checked in, never called
    assert minutes(notary.times.wait) == (1, 10, 10)
    assert minutes(notary.times.service) == (1, 20, 20)
    assert days(notary.times.lead) == (0, None, None)


def test_service_names_follow_the_viewers_language(history):
    report = build_report(db.session, history.seoul, MON, WED, "ru")
    assert [row.name for row in report.services] == ["Паспорт", "Виза", "Нотариат"]
    korean = build_report(db.session, history.seoul, MON, WED, "ko")
    assert [row.name for row in korean.services] == ["여권", "Visa", "Notary"]  # English fallback


def test_busan_alone(history):
    report = build_report(db.session, history.busan, MON, WED, "en")
    assert days_of(report) == {
        MON: (2, 0, 1, 1, 0, 0, 8, 2),
        TUE: (0, 0, 0, 0, 0, 0, 8, 0),
        WED: (1, 0, 1, 0, 0, 1, 8, 1),
    }
    assert report.total.no_show_rate == pytest.approx(1 / 3)
    assert days(report.times.lead) == (3, 3, pytest.approx((3 + 1 / 12 + 10) / 3))
    assert minutes(report.times.wait) == (3, 20, pytest.approx(55 / 3))
    assert minutes(report.times.service) == (3, 15, pytest.approx(55 / 3))


def test_all_offices_add_up(history):
    report = build_report(db.session, None, MON, WED, "en")
    assert report.office is None
    assert days_of(report) == {
        MON: (5, 1, 2, 2, 0, 1, 32, 5),
        TUE: (3, 0, 2, 0, 1, 1, 34, 3),
        WED: (1, 0, 1, 0, 0, 1, 34, 1),
    }
    total = report.total
    assert (total.bookings, total.cancellations, total.attended, total.no_shows) == (9, 1, 5, 2)
    assert (total.pending, total.walk_ins) == (1, 3)
    assert total.no_show_rate == pytest.approx(2 / 7)
    assert report.capacity.use == 9 / 100
    assert days(report.times.lead) == (9, 3, pytest.approx((35 + 1 / 12) / 9))
    assert minutes(report.times.wait) == (7, 15, pytest.approx(102 / 7))
    assert minutes(report.times.service) == (7, 18, pytest.approx(123 / 7))
    rows = {row.code: row.counts for row in report.services}
    assert {code: counts.bookings for code, counts in rows.items()} == {
        "passport": 6,
        "visa": 3,
        "notary": 1,
    }
    assert {code: counts.walk_ins for code, counts in rows.items()} == {
        "passport": 1,
        "visa": 1,
        "notary": 1,
    }


def test_a_visit_is_counted_on_its_local_day_not_on_the_utc_day(history):
    a6, a9 = history.appointments["a6"], history.appointments["a9"]
    assert a6.starts_at.date() == MON and a9.starts_at.date() == WED  # the UTC days

    monday = build_report(db.session, history.seoul, MON, MON, "en")
    tuesday = build_report(db.session, history.seoul, TUE, TUE, "en")
    wednesday = build_report(db.session, history.seoul, WED, WED, "en")
    thursday = build_report(db.session, history.seoul, THU, THU, "en")

    assert monday.total.bookings == 3 and tuesday.total.bookings == 3
    assert wednesday.total.bookings == 0 and thursday.total.bookings == 1
    # Thursday's 08:30 slot (Wednesday 23:30 UTC) is Thursday's capacity, with a9's seat.
    assert (wednesday.capacity.offered, wednesday.capacity.booked) == (26, 0)
    assert (thursday.capacity.offered, thursday.capacity.booked) == (26, 1)
    assert [row.day for row in tuesday.days] == [TUE]


def test_day_bounds_follow_daylight_saving_time():
    office = Office(timezone="Europe/Berlin")
    bounds = day_bounds(office, date(2026, 10, 24), date(2026, 10, 25))
    assert bounds == [
        datetime(2026, 10, 23, 22, 0, tzinfo=UTC),
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # the 25-hour day of the change
    ]


@pytest.mark.parametrize(("first", "last"), [(TUE, MON), (date(2026, 1, 1), date(2027, 1, 2))])
def test_a_reversed_or_too_long_period_is_refused(app, first, last):
    with pytest.raises(InvalidPeriod) as refused:
        build_report(db.session, None, first, last, "en")
    assert refused.value.field == "to"


def test_a_year_is_allowed(history):
    report = build_report(db.session, None, date(2026, 1, 1), date(2026, 12, 31), "en")
    assert len(report.days) == 365 and report.total.bookings == 10  # a9 included


def test_csv_tables_hold_plain_numbers(history):
    report = build_report(db.session, history.seoul, MON, WED, "en")
    days_table = report_table(report, "days")
    assert days_table.columns[:2] == ("day", "bookings")
    assert days_table.rows[0] == ("2026-11-30", 3, 1, 1, 1, 0, 0.5, 1, 24, 3, 0.125)
    assert days_table.rows[2] == ("2026-12-02", 0, 0, 0, 0, 0, "", 0, 26, 0, 0.0)
    times = report_table(report, "service-times")
    assert times.rows[0] == ("passport", "Passport", 4, 1.5, 3.5, 3, 15.0, 12.33, 3, 18.0, 16.0)
    with pytest.raises(KeyError):
        report_table(report, "people")


def test_reports_give_the_same_numbers_after_the_purge(history, clock):
    scopes = [history.seoul, history.busan, None]
    periods = [(MON, WED), (MON, THU), (TUE, TUE)]
    before = {
        (office.code if office else "all", first, last): table_values(
            build_report(db.session, office, first, last, "en")
        )
        for office in scopes
        for first, last in periods
    }
    text_before = str(before)
    assert "Secretname" not in text_before and "example.com" not in text_before

    clock.set(at(THU, 12) + 181 * DAY)
    purged = purge_personal_data(db.session, clock(), 180)
    db.session.commit()
    db.session.expire_all()

    # Over and old: everything but a7 (checked in), a8 and a9 (confirmed), the holds included.
    assert purged.appointments == 9
    a1 = history.appointments["a1"]
    assert (a1.given_name, a1.iin, a1.email, a1.personal_data_purged_at) == ("", "", "", clock())
    after = {
        (office.code if office else "all", first, last): table_values(
            build_report(db.session, office, first, last, "en")
        )
        for office in scopes
        for first, last in periods
    }
    assert after == before
    assert after[("all", MON, WED)]["days"].rows[0][1] == 5  # and it is not empty


def test_seats_booked_in_a_slot_blocked_later_are_left_out_like_the_slot(history):
    # Busan's Thursday 09:00 is booked, then blocked (the visit stays booked): the slot's seats
    # are left out of both sides of the capacity use, so it can never pass 100 %.
    add_visit(history.busan, at(THU, 9), [history.passport], Status.CONFIRMED, DAY)
    slot = db.session.scalar(
        sa.select(Slot).where(Slot.office_id == history.busan.id, Slot.starts_at == at(THU, 9))
    )
    slot.is_blocked = True
    db.session.commit()
    report = build_report(db.session, history.busan, THU, THU, "en")
    assert report.total.bookings == 1
    assert (report.capacity.offered, report.capacity.booked) == (7, 0)
