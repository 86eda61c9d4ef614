"""The queue's reports, checked number by number on a small known queue.

Seoul (UTC+9), Monday 30 November 2026, two active desks and two inactive ones:

| ticket | arrived | called | finished | status    | desk |
|--------|---------|--------|----------|-----------|------|
| t1     | 08:50   | 09:00  | 09:10    | served    | 1    |
| t2     | 09:05   | 09:20  | 09:50    | served    | 1    |
| t3     | 08:55   | 09:05  | 09:11    | served    | 2    |
| t4     | 09:10   | 09:30  | 09:45    | missed    | 2    |
| t5     | 09:00   |        |          | cancelled | 1    |
| t6     | 11:10   |        |          | waiting   |      |
| t7     | 09:00   | 09:10  | 09:20    | served    | 1    |  (Wednesday: outside the period)
| t8     | 10:00   | 10:01  | 10:04    | served    | 4    |  (desk 4 since made inactive)

t1 and t3 arrive on Monday morning local time but on Sunday in UTC (23:50 and 23:55).
Tashkent (UTC+5): one visitor arrives at 04:30 UTC, 09:30 there, served at 09:40.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from consular.extensions import db
from consular.models import Desk, Office, Ticket, TicketStatus
from consular.services.queue_reports import (
    build_desk_report,
    build_hour_report,
    desk_table,
    hour_table,
    local_hour,
)
from consular.services.reports import InvalidPeriod
from tests.services.test_reports import MON, TUE, WED, at

MINUTE = timedelta(minutes=1)
_numbers = itertools.count(1)


def add_ticket(
    office: Office,
    day: date,
    arrived: datetime,
    called: datetime | None = None,
    finished: datetime | None = None,
    *,
    status: TicketStatus = TicketStatus.SERVED,
    desk: Desk | None = None,
) -> Ticket:
    """A walk-in's ticket with its times (UTC instants) and the desk of its last call."""
    number = next(_numbers)
    ticket = Ticket(
        office=office,
        service_day=day,
        number=number,
        label=f"T-{number:03d}",
        is_walk_in=True,
        status=status,
        queue_at=arrived,
        arrived_at=arrived,
        first_called_at=called,
        last_called_at=called,
        finished_at=finished,
        call_count=3 if status == TicketStatus.MISSED else int(called is not None),
        desk=desk,
    )
    db.session.add(ticket)
    db.session.flush()
    return ticket


@pytest.fixture
def queue(make_office):
    seoul = make_office("seoul", generate=False)
    tashkent = make_office("tashkent", timezone="Asia/Tashkent", generate=False)
    one, two = Desk(office=seoul, name="1"), Desk(office=seoul, name="2")
    idle = Desk(office=seoul, name="3", is_active=False)
    retired = Desk(office=seoul, name="4", is_active=False)
    far = Desk(office=tashkent, name="1")
    db.session.add_all([one, two, idle, retired, far])
    add_ticket(seoul, MON, at(MON, 8, 50), at(MON, 9), at(MON, 9, 10), desk=one)
    add_ticket(seoul, MON, at(MON, 9, 5), at(MON, 9, 20), at(MON, 9, 50), desk=one)
    add_ticket(seoul, MON, at(MON, 8, 55), at(MON, 9, 5), at(MON, 9, 11), desk=two)
    add_ticket(
        seoul,
        MON,
        at(MON, 9, 10),
        at(MON, 9, 30),
        at(MON, 9, 45),
        status=TicketStatus.MISSED,
        desk=two,
    )
    add_ticket(seoul, MON, at(MON, 9), status=TicketStatus.CANCELLED, desk=one)
    add_ticket(seoul, MON, at(MON, 11, 10), status=TicketStatus.WAITING)
    add_ticket(seoul, WED, at(WED, 9), at(WED, 9, 10), at(WED, 9, 20), desk=one)
    add_ticket(seoul, MON, at(MON, 10), at(MON, 10, 1), at(MON, 10, 4), desk=retired)
    arrived = datetime(2026, 11, 30, 4, 30, tzinfo=UTC)
    add_ticket(tashkent, MON, arrived, arrived + 5 * MINUTE, arrived + 10 * MINUTE, desk=far)
    db.session.commit()
    return seoul, tashkent


def test_hours_are_the_offices_local_hours_across_the_utc_day(queue):
    seoul, tashkent = queue
    early = at(MON, 8, 50)
    assert early.day == 29 and early.hour == 23  # Sunday in UTC
    assert local_hour(early, seoul) == 8
    report = build_hour_report(db.session, seoul, MON, TUE)
    rows = {
        row.hour: (row.arrivals, row.served, row.wait.count, row.wait.mean) for row in report.hours
    }
    assert rows == {
        8: (2, 0, 2, 10 * MINUTE),  # t1, t3: called after 10 minutes each
        9: (2, 3, 2, 17.5 * MINUTE),  # t2 (15) and t4 (20) arrive; t1, t2, t3 served
        10: (1, 1, 1, MINUTE),  # t8
        11: (1, 0, 0, None),  # t6, still waiting
    }
    assert (report.arrivals, report.served, report.wait.count) == (6, 4, 5)
    assert report.wait.mean == (10 + 15 + 10 + 20 + 1) / 5 * MINUTE


def test_each_office_counts_in_its_own_zone(queue):
    seoul, tashkent = queue
    alone = build_hour_report(db.session, tashkent, MON, MON)
    assert [(row.hour, row.arrivals, row.served) for row in alone.hours] == [(9, 1, 1)]
    everyone = build_hour_report(db.session, None, MON, TUE)
    assert {row.hour: row.arrivals for row in everyone.hours} == {8: 2, 9: 3, 10: 1, 11: 1}


def test_an_empty_hour_between_busy_ones_is_a_row_of_zeros(queue):
    seoul, _tashkent = queue
    add_ticket(seoul, TUE, at(TUE, 9), at(TUE, 9, 1), at(TUE, 9, 2))
    add_ticket(seoul, TUE, at(TUE, 12), at(TUE, 12, 1), at(TUE, 12, 2))
    report = build_hour_report(db.session, seoul, TUE, TUE)
    assert [(row.hour, row.arrivals) for row in report.hours] == [(9, 1), (10, 0), (11, 0), (12, 1)]
    assert hour_table(report)[1][1] == ("10:00", 0, 0, 0, "")


def test_a_period_without_tickets_has_no_hours(queue):
    seoul, _tashkent = queue
    report = build_hour_report(db.session, seoul, TUE, TUE)
    assert report.hours == [] and report.arrivals == 0 and report.wait.mean is None


def test_waits_are_added_up_to_the_microsecond(queue):
    seoul, _tashkent = queue
    arrived = at(TUE, 9)
    add_ticket(seoul, TUE, arrived, arrived + timedelta(seconds=61, microseconds=7))
    add_ticket(seoul, TUE, arrived, arrived + timedelta(seconds=1, microseconds=2))
    report = build_hour_report(db.session, seoul, TUE, TUE)
    assert report.wait.count == 2
    assert report.wait.total_microseconds == 62_000_009
    assert report.wait.mean == timedelta(seconds=31, microseconds=4)  # 31.0000045 s, rounded


def test_a_quarter_hour_zone_counts_in_its_own_hours(make_office):
    kathmandu = make_office("kathmandu", timezone="Asia/Kathmandu", generate=False)  # UTC+5:45
    day = date(2026, 11, 30)
    # 03:10 UTC is 08:55 there, 03:20 UTC is 09:05.
    for minute in (10, 20):
        arrived = datetime(2026, 11, 30, 3, minute, tzinfo=UTC)
        add_ticket(kathmandu, day, arrived, arrived + MINUTE, arrived + 2 * MINUTE)
    report = build_hour_report(db.session, kathmandu, day, day)
    assert [(row.hour, row.arrivals, row.served) for row in report.hours] == [(8, 1, 1), (9, 1, 1)]


def test_desks_served_missed_service_times_and_shares(queue):
    seoul, _tashkent = queue
    report = build_desk_report(db.session, seoul, MON, TUE)
    rows = {row.name: (row.served, row.missed, row.service.mean, row.share) for row in report.desks}
    assert rows == {
        "1": (2, 0, 20 * MINUTE, 0.5),  # 10 and 30 minutes; 2 of 4 served
        "2": (1, 1, 6 * MINUTE, 0.25),
        "4": (1, 0, 3 * MINUTE, 0.25),  # inactive now, but it served then
    }  # desk 3, inactive and idle, is not listed; Tashkent's desk is another office's
    assert (report.served, report.missed) == (4, 1)
    assert report.service.mean == (10 + 30 + 6 + 3) / 4 * MINUTE
    columns, table = desk_table(report)
    assert columns[:5] == ("office", "desk", "served", "share_of_served", "missed")
    assert table[0] == ("seoul", "1", 2, 0.5, 0, 20.0)


def test_an_active_desk_that_did_nothing_is_listed_with_zeros(queue):
    seoul, _tashkent = queue
    report = build_desk_report(db.session, seoul, TUE, TUE)
    assert [(row.name, row.served, row.share) for row in report.desks] == [
        ("1", 0, None),
        ("2", 0, None),
    ]


def test_all_offices_share_one_total(queue):
    report = build_desk_report(db.session, None, MON, TUE)
    assert report.served == 5
    assert [(row.office.code, row.name, row.share) for row in report.desks] == [
        ("seoul", "1", 0.4),
        ("seoul", "2", 0.2),
        ("seoul", "4", 0.2),
        ("tashkent", "1", 0.2),
    ]


@pytest.mark.parametrize("build", [build_hour_report, build_desk_report])
def test_a_reversed_period_is_refused(app, build):
    with pytest.raises(InvalidPeriod):
        build(db.session, None, TUE, MON)
