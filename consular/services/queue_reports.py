"""The queue's reports: the office's local hours of the day, and its desks, over a period.

Both read the period's queue tickets of an office by `service_day`, through an index on
the office and the day, and let the database count and add up: an hour report is at most
96 rows a day of the period (quarters of an hour), a desk report a row per desk and
status. Only times, statuses and desks are read, never a visitor's details, so they count
the same after the retention purge. Tickets cancelled as issued in error never count.
Durations are added up in whole microseconds, so the means are exact.

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

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from consular.database import SessionLike
from consular.models import Desk, Office, Ticket, TicketStatus
from consular.services.reports import Cell, check_period, offices_in_scope

HOURS_OF_THE_DAY = 24
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Every zone's offset from UTC is a whole number of quarters of an hour, so a quarter of an
# hour of UTC lies within one local hour of any zone.
QUARTER_MICROSECONDS = 15 * 60 * 1_000_000


class epoch_microseconds(sa.sql.functions.FunctionElement[int]):  # noqa: N801
    """SQL: a stored instant as whole microseconds since 1970-01-01 UTC, exactly, on both
    databases (neither is asked to convert time zones)."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "epoch_microseconds"


@compiles(epoch_microseconds, "postgresql")
def _epoch_postgresql(element: epoch_microseconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"


@compiles(epoch_microseconds, "sqlite")
def _epoch_sqlite(element: epoch_microseconds, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as text 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (consular.models.base.UTCDateTime).
    column = compiler.process(element.clauses, **kw)
    return (
        f"(CAST(strftime('%s', {column}) AS INTEGER) * 1000000"
        f" + CAST(substr({column}, 21, 6) AS INTEGER))"
    )


@dataclass(frozen=True)
class MeanDuration:
    """How many durations there were, their sum and their mean (to the microsecond)."""

    count: int = 0
    total_microseconds: int = 0

    @property
    def mean(self) -> timedelta | None:
        """The sum over the count; None when there was none."""
        if not self.count:
            return None
        return timedelta(microseconds=round(self.total_microseconds / self.count))

    def __add__(self, other: MeanDuration) -> MeanDuration:
        return MeanDuration(
            self.count + other.count, self.total_microseconds + other.total_microseconds
        )


@dataclass
class HourRow:
    """One hour of the office's local day (hour 9: from 09:00 to 10:00)."""

    hour: int
    arrivals: int = 0
    served: int = 0
    wait: MeanDuration = MeanDuration()


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
    wait: MeanDuration


@dataclass
class DeskRow:
    """One desk of the period, with its office."""

    desk_id: int
    name: str
    office: Office
    served: int = 0
    missed: int = 0
    service: MeanDuration = MeanDuration()
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
    service: MeanDuration


def _in_period(office: Office, first_day: date, last_day: date) -> list[sa.ColumnElement[bool]]:
    """The office's tickets of the period: by office and day, as the queue's index is."""
    return [
        Ticket.office_id == office.id,
        Ticket.service_day >= first_day,
        Ticket.service_day <= last_day,
    ]


def _quarter(column: sa.SQLColumnExpression[datetime | None]) -> sa.ColumnElement[int]:
    """SQL: the number of the quarter of an hour since 1970 (UTC) an instant is in."""
    return epoch_microseconds(column) // sa.literal_column(
        str(QUARTER_MICROSECONDS), sa.BigInteger()
    )


def arrivals_query(office: Office, first_day: date, last_day: date) -> sa.Select[Any]:
    """By quarter of an hour of arrival (UTC): tickets that count (not cancelled), those
    called, and the sum of their waits in microseconds."""
    rows = (
        sa.select(
            _quarter(Ticket.arrived_at).label("quarter"),
            Ticket.first_called_at.label("called"),
            (
                epoch_microseconds(Ticket.first_called_at) - epoch_microseconds(Ticket.arrived_at)
            ).label("wait"),
        )
        .where(*_in_period(office, first_day, last_day), Ticket.status != TicketStatus.CANCELLED)
        .subquery()
    )
    # Grouped through a subquery: the expression is written once.
    return sa.select(
        rows.c.quarter, sa.func.count(), sa.func.count(rows.c.called), sa.func.sum(rows.c.wait)
    ).group_by(rows.c.quarter)


def served_query(office: Office, first_day: date, last_day: date) -> sa.Select[Any]:
    """By quarter of an hour (UTC) in which they were marked served: the served tickets."""
    rows = (
        sa.select(_quarter(Ticket.finished_at).label("quarter"))
        .where(
            *_in_period(office, first_day, last_day),
            Ticket.status == TicketStatus.SERVED,
            Ticket.finished_at.is_not(None),
        )
        .subquery()
    )
    return sa.select(rows.c.quarter, sa.func.count()).group_by(rows.c.quarter)


def desk_tickets_query(office: Office, first_day: date, last_day: date) -> sa.Select[Any]:
    """By desk and status: the period's tickets served or missed at a desk, and the sum of
    the service times (first call to finish) in microseconds."""
    return (
        sa.select(
            Ticket.desk_id,
            Ticket.status,
            sa.func.count(),
            sa.func.sum(
                epoch_microseconds(Ticket.finished_at) - epoch_microseconds(Ticket.first_called_at)
            ),
        )
        .where(
            *_in_period(office, first_day, last_day),
            Ticket.status.in_((TicketStatus.SERVED, TicketStatus.MISSED)),
            Ticket.desk_id.is_not(None),
        )
        .group_by(Ticket.desk_id, Ticket.status)
    )


def local_hour(instant: datetime, office: Office) -> int:
    """The hour of the office's local day an instant falls in (0 to 23)."""
    return instant.astimezone(office.zone).hour


def _hour_of_quarter(quarter: int, office: Office) -> int:
    return local_hour(EPOCH + timedelta(microseconds=quarter * QUARTER_MICROSECONDS), office)


def build_hour_report(
    session: SessionLike, office: Office | None, first_day: date, last_day: date
) -> HourReport:
    """Arrivals, visitors served and waiting times by local hour, for an office (None: all)."""
    check_period(first_day, last_day)
    arrivals = [0] * HOURS_OF_THE_DAY
    served = [0] * HOURS_OF_THE_DAY
    waits = [MeanDuration()] * HOURS_OF_THE_DAY
    for place in offices_in_scope(session, office):
        for quarter, count, called, wait in session.execute(
            arrivals_query(place, first_day, last_day)
        ):
            hour = _hour_of_quarter(quarter, place)
            arrivals[hour] += count
            waits[hour] += MeanDuration(called, int(wait or 0))
        for quarter, count in session.execute(served_query(place, first_day, last_day)):
            served[_hour_of_quarter(quarter, place)] += count
    busy = [hour for hour in range(HOURS_OF_THE_DAY) if arrivals[hour] or served[hour]]
    hours = (
        [
            HourRow(hour, arrivals[hour], served[hour], waits[hour])
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
        wait=sum(waits, MeanDuration()),
    )


def build_desk_report(
    session: SessionLike, office: Office | None, first_day: date, last_day: date
) -> DeskReport:
    """Visitors served and missed, service times and shares by desk, for an office (None: all)."""
    check_period(first_day, last_day)
    places = offices_in_scope(session, office)
    served: defaultdict[int, MeanDuration] = defaultdict(MeanDuration)
    missed: defaultdict[int, int] = defaultdict(int)
    for place in places:
        for desk_id, status, count, service in session.execute(
            desk_tickets_query(place, first_day, last_day)
        ):
            if status == TicketStatus.MISSED:
                missed[desk_id] += count
            else:
                served[desk_id] += MeanDuration(count, int(service or 0))
    by_office = {place.id: place for place in places}
    worked = set(served) | set(missed)
    desks = session.scalars(
        sa.select(Desk)
        .where(
            Desk.office_id.in_(by_office),
            sa.or_(Desk.is_active.is_(True), Desk.id.in_(worked)),
        )
        .order_by(Desk.office_id, Desk.name, Desk.id)
    )
    total = sum(served.values(), MeanDuration())
    rows = [
        DeskRow(
            desk_id=desk.id,
            name=desk.name,
            office=by_office[desk.office_id],
            served=served[desk.id].count,
            missed=missed[desk.id],
            service=served[desk.id],
            share=served[desk.id].count / total.count if total.count else None,
        )
        for desk in desks
    ]
    return DeskReport(
        office=office,
        first_day=first_day,
        last_day=last_day,
        desks=rows,
        served=total.count,
        missed=sum(missed.values()),
        service=total,
    )


# The CSV tables of these reports: stable English column names, plain numbers.
QUEUE_TABLES: tuple[str, ...] = ("hours", "desks")


def _minutes(value: timedelta | None) -> Cell:
    return "" if value is None else round(value / timedelta(minutes=1), 2)


def hour_table(report: HourReport) -> tuple[tuple[str, ...], list[tuple[Cell, ...]]]:
    """The hour report as CSV columns and rows."""
    return (
        ("hour", "arrivals", "served", "wait_count", "wait_mean_minutes"),
        [
            (
                f"{row.hour:02d}:00",
                row.arrivals,
                row.served,
                row.wait.count,
                _minutes(row.wait.mean),
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
        ),
        [
            (
                row.office.code,
                row.name,
                row.served,
                "" if row.share is None else round(row.share, 4),
                row.missed,
                _minutes(row.service.mean),
            )
            for row in report.desks
        ],
    )
