"""The queue's reports: the office's local hours of the day, and its desks, over a period.

Both read the period's queue tickets of an office, by `service_day` through the index
the queue itself uses (`ix_ticket_queue`: office, day, status), one row a ticket and only
its times, status and desk, never a visitor's details; so they count the same after the
retention purge. Tickets cancelled as issued in error never count.

By hour of the office's local day (its own zone; for all offices, each office's own):

- **Arrivals**: tickets issued (walk-ins) or checked in (booked visitors), in the hour of
  `arrived_at`.
- **Served**: tickets marked served, in the hour they were marked served.
- **Waiting time**: the first call minus the arrival, for every called ticket, in the
  hour the visitor arrived (so a morning's queue shows where it formed).

By desk (the desk of the ticket's last call):

- **Served**: tickets the desk marked served; **share**: of all tickets served at the
  desks in scope.
- **Service time**: the moment marked served minus the first call (as in the main
  report: a transferred visitor's includes the time of the transfer).
- **Missed**: tickets the desk called that ended missed: three calls unanswered, or still
  called or set aside there when the day was closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consular.database import SessionLike
from consular.models import Desk, Office, Ticket, TicketStatus
from consular.services.reports import (
    MICROSECOND,
    Cell,
    DurationStats,
    check_period,
    offices_in_scope,
)

HOURS_OF_THE_DAY = 24


@dataclass
class HourRow:
    """One hour of the office's local day (hour 9: from 09:00 to 10:00)."""

    hour: int
    arrivals: int = 0
    served: int = 0
    wait: DurationStats = DurationStats()


@dataclass
class HourReport:
    """The period's arrivals, visitors served and waiting times by local hour.

    `hours` runs from the first to the last hour with anything in it, without gaps (an
    empty hour between two busy ones is a row of zeros); it is empty when nothing counted.
    """

    office: Office | None
    first_day: date
    last_day: date
    hours: list[HourRow]
    arrivals: int
    served: int
    wait: DurationStats


@dataclass
class DeskRow:
    """One desk of the period, with its office."""

    desk_id: int
    name: str
    office: Office
    served: int = 0
    missed: int = 0
    service: DurationStats = DurationStats()
    share: float | None = None


@dataclass
class DeskReport:
    """What each desk did in the period; `desks` also lists active desks that did nothing."""

    office: Office | None
    first_day: date
    last_day: date
    desks: list[DeskRow]
    served: int
    missed: int
    service: DurationStats


def period_tickets_query(office: Office, first_day: date, last_day: date) -> sa.Select[Any]:
    """The office's tickets of the period that count (not cancelled): times, status, desk."""
    return sa.select(
        Ticket.status,
        Ticket.arrived_at,
        Ticket.first_called_at,
        Ticket.finished_at,
        Ticket.desk_id,
    ).where(
        Ticket.office_id == office.id,
        Ticket.service_day >= first_day,
        Ticket.service_day <= last_day,
        Ticket.status != TicketStatus.CANCELLED,
    )


def desk_tickets_query(office: Office, first_day: date, last_day: date) -> sa.Select[Any]:
    """The office's tickets of the period that ended at a desk: served or missed there."""
    return sa.select(
        Ticket.desk_id, Ticket.status, Ticket.first_called_at, Ticket.finished_at
    ).where(
        Ticket.office_id == office.id,
        Ticket.service_day >= first_day,
        Ticket.service_day <= last_day,
        Ticket.status.in_((TicketStatus.SERVED, TicketStatus.MISSED)),
        Ticket.desk_id.is_not(None),
    )


def local_hour(instant: datetime, office: Office) -> int:
    """The hour of the office's local day an instant falls in (0 to 23)."""
    return instant.astimezone(office.zone).hour


def build_hour_report(
    session: SessionLike, office: Office | None, first_day: date, last_day: date
) -> HourReport:
    """Arrivals, visitors served and waiting times by local hour, for an office (None: all)."""
    check_period(first_day, last_day)
    arrivals = [0] * HOURS_OF_THE_DAY
    served = [0] * HOURS_OF_THE_DAY
    waits: list[list[float]] = [[] for _ in range(HOURS_OF_THE_DAY)]
    for place in offices_in_scope(session, office):
        rows = session.execute(period_tickets_query(place, first_day, last_day))
        for status, arrived, called, finished, _desk in rows:
            hour = local_hour(arrived, place)
            arrivals[hour] += 1
            if called is not None:
                waits[hour].append((called - arrived) / MICROSECOND)
            if status == TicketStatus.SERVED and finished is not None:
                served[local_hour(finished, place)] += 1
    busy = [hour for hour in range(HOURS_OF_THE_DAY) if arrivals[hour] or served[hour]]
    hours = (
        [
            HourRow(hour, arrivals[hour], served[hour], DurationStats.of(waits[hour]))
            for hour in range(busy[0], busy[-1] + 1)
        ]
        if busy
        else []
    )
    return HourReport(
        office=office,
        first_day=first_day,
        last_day=last_day,
        hours=hours,
        arrivals=sum(arrivals),
        served=sum(served),
        wait=DurationStats.of(wait for hour in waits for wait in hour),
    )


@dataclass
class _DeskTally:
    served: int = 0
    missed: int = 0
    service: list[float] = field(default_factory=list)


def build_desk_report(
    session: SessionLike, office: Office | None, first_day: date, last_day: date
) -> DeskReport:
    """Visitors served and missed, service times and shares by desk, for an office (None: all)."""
    check_period(first_day, last_day)
    places = offices_in_scope(session, office)
    tallies: dict[int, _DeskTally] = {}
    for place in places:
        for desk_id, status, called, finished in session.execute(
            desk_tickets_query(place, first_day, last_day)
        ):
            tally = tallies.setdefault(desk_id, _DeskTally())
            if status == TicketStatus.MISSED:
                tally.missed += 1
            elif finished is not None and called is not None:
                tally.served += 1
                tally.service.append((finished - called) / MICROSECOND)
    by_office = {place.id: place for place in places}
    desks = session.scalars(
        sa.select(Desk)
        .where(
            Desk.office_id.in_(by_office),
            sa.or_(Desk.is_active.is_(True), Desk.id.in_(tallies)),
        )
        .order_by(Desk.office_id, Desk.name, Desk.id)
    )
    total_served = sum(tally.served for tally in tallies.values())
    rows = []
    for desk in desks:
        tally = tallies.get(desk.id, _DeskTally())
        rows.append(
            DeskRow(
                desk_id=desk.id,
                name=desk.name,
                office=by_office[desk.office_id],
                served=tally.served,
                missed=tally.missed,
                service=DurationStats.of(tally.service),
                share=tally.served / total_served if total_served else None,
            )
        )
    return DeskReport(
        office=office,
        first_day=first_day,
        last_day=last_day,
        desks=rows,
        served=total_served,
        missed=sum(tally.missed for tally in tallies.values()),
        service=DurationStats.of(s for tally in tallies.values() for s in tally.service),
    )


# The CSV tables of these reports: stable English column names, plain numbers.
QUEUE_TABLES: tuple[str, ...] = ("hours", "desks")


def _minutes(stats: DurationStats, which: str) -> Cell:
    value = getattr(stats, which)
    return "" if value is None else round(value / timedelta(minutes=1), 2)


def hour_table(report: HourReport) -> tuple[tuple[str, ...], list[tuple[Cell, ...]]]:
    """The hour report as CSV columns and rows."""
    return (
        ("hour", "arrivals", "served", "wait_count", "wait_mean_minutes", "wait_median_minutes"),
        [
            (
                f"{row.hour:02d}:00",
                row.arrivals,
                row.served,
                row.wait.count,
                _minutes(row.wait, "mean"),
                _minutes(row.wait, "median"),
            )
            for row in report.hours
        ],
    )


def desk_table(report: DeskReport) -> tuple[tuple[str, ...], list[tuple[Cell, ...]]]:
    """The desk report as CSV columns and rows."""
    return (
        (
            "office",
            "desk",
            "served",
            "share_of_served",
            "missed",
            "service_mean_minutes",
            "service_median_minutes",
        ),
        [
            (
                row.office.code,
                row.name,
                row.served,
                "" if row.share is None else round(row.share, 4),
                row.missed,
                _minutes(row.service, "mean"),
                _minutes(row.service, "median"),
            )
            for row in report.desks
        ],
    )
