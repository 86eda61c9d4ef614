"""Administrators' reports: bookings, no-shows, walk-ins, capacity and times over a period.

Every measure is counted on a local day of the office it belongs to: an appointment on
the day its visit starts in the office's zone, a slot on the day it starts, a ticket on
its `service_day`. Times are stored in UTC, so each office's local days are turned into
UTC bounds here and the database only compares instants, which works the same on SQLite
and PostgreSQL (neither is asked to convert time zones).

The reports read only what the retention purge keeps (office, services, times, statuses,
seats, tickets' times), never an applicant's details, so they count the same afterwards.

Definitions, as the report page states them:

- **Bookings**: appointments that were confirmed with the emailed code (`confirmed_at` is
  set), whatever became of them later. Holds that were never confirmed (expired or
  abandoned) never count.
- **Cancellations**: bookings that were cancelled afterwards.
- **Attended**: bookings whose visitor came: checked in, called or served.
- **No-shows**: bookings marked as no-shows (by staff, by the end of the day, or after
  three unanswered calls).
- **Outcome pending**: bookings still confirmed, neither attended nor marked: visits
  to come, or days not yet closed.
- **No-show rate**: no-shows / (attended + no-shows), i.e. among the booked visits that
  were due and whose outcome is known. Cancelled and pending visits are left out.
- **Walk-ins**: queue tickets issued to visitors without an appointment (urgent cases
  included, tickets cancelled as issued in error excluded), on the ticket's day.
- **Seats offered**: the sum of the online-booking capacity of the day's slots, blocked
  slots excluded. **Seats booked**: the seats that bookings not cancelled take in those
  slots (a visit of several slots takes a seat in each). **Capacity use**: booked / offered.
- **Lead time**: the visit's (current) start minus the moment it was confirmed, for every
  booking, cancelled ones included.
- **Waiting time**: the first call minus the check-in (booked visitor) or the issue of the
  ticket (walk-in), for every ticket that was called.
- **Service time**: the moment it was marked served minus the first call, for every served
  ticket (a transferred visitor's includes the time of the transfer).

By service, an appointment counts once for each of its services, so the service rows can
add up to more than the total; tickets count under the service they ended with.

Durations are taken in whole microseconds (what the database stores), so medians are
exact, and medians and means are the same however the durations are grouped.

One definition, two ways to read it: `compute_days` counts an office's days from the
visits, seats and tickets; a day that is over can also be read from its stored daily
figure (consular/models/figures.py), which holds what `compute_days` counted for it and
which the database forgets as soon as anything it counted changes. A report reads the
figures it finds and counts the other days (today, days to come, days not rolled up yet),
so it is the same report at every moment; only its speed depends on `flask reports rollup`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import chain
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext

from consular.database import SessionLike
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
    appointment_slot,
)
from consular.models.figures import COUNT_NAMES, SAMPLE_NAMES
from consular.services.errors import DomainError
from consular.services.schedule import local_day_bounds

MAX_PERIOD_DAYS = 366

ATTENDED_STATUSES: tuple[Status, ...] = (Status.CHECKED_IN, Status.CALLED, Status.SERVED)
# What each status of a booking (a confirmed appointment) counts as.
OUTCOMES: dict[str, str] = {
    Status.CANCELLED: "cancellations",
    Status.NO_SHOW: "no_shows",
    Status.CONFIRMED: "pending",
    **{status: "attended" for status in ATTENDED_STATUSES},
}

seat = appointment_slot.c
MICROSECOND = timedelta(microseconds=1)


class InvalidPeriod(DomainError):
    """The period is empty, reversed or too long."""

    code = "invalid_period"
    http_status = 400


@dataclass
class Counts:
    """How many bookings, cancellations, visits, no-shows and walk-ins."""

    bookings: int = 0
    cancellations: int = 0
    attended: int = 0
    no_shows: int = 0
    pending: int = 0
    walk_ins: int = 0

    @property
    def due(self) -> int:
        """Booked visits that were due and whose outcome is known."""
        return self.attended + self.no_shows

    @property
    def no_show_rate(self) -> float | None:
        """No-shows / (attended + no-shows); None when no visit was due."""
        return self.no_shows / self.due if self.due else None

    def add(self, other: Counts) -> None:
        """Add another row's counts to these."""
        for name in ("bookings", "cancellations", "attended", "no_shows", "pending", "walk_ins"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Capacity:
    """Seats offered to online booking in slots, and the seats bookings took."""

    offered: int = 0
    booked: int = 0

    @property
    def use(self) -> float | None:
        """Booked seats / offered seats; None when nothing was offered."""
        return self.booked / self.offered if self.offered else None

    def add(self, other: Capacity) -> None:
        """Add another day's seats to these."""
        self.offered += other.offered
        self.booked += other.booked


@dataclass(frozen=True)
class DurationStats:
    """Median and mean of a set of durations, and how many there were."""

    count: int = 0
    median: timedelta | None = None
    mean: timedelta | None = None

    @classmethod
    def of(cls, microseconds: Iterable[float]) -> DurationStats:
        """The statistics of durations given in whole microseconds (as floats).

        The same whatever order or grouping the durations come in: the median is the middle
        one (halfway between the two middle ones of an even number), the mean the sum (the
        float nearest the exact sum: `math.fsum`) over the count, both rounded to the
        microsecond.
        """
        ordered = sorted(microseconds)
        count = len(ordered)
        if not count:
            return cls()
        middle = count // 2
        median = ordered[middle] if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        return cls(
            count=count,
            median=timedelta(microseconds=median),
            mean=timedelta(microseconds=math.fsum(ordered) / count),
        )


@dataclass(frozen=True)
class Times:
    """Lead, waiting and service times."""

    lead: DurationStats = DurationStats()
    wait: DurationStats = DurationStats()
    service: DurationStats = DurationStats()


@dataclass
class DayRow:
    """One local day of the period."""

    day: date
    counts: Counts = field(default_factory=Counts)
    capacity: Capacity = field(default_factory=Capacity)
    times: Times = field(default_factory=Times)

    @property
    def is_working_day(self) -> bool:
        """Whether the office (any office, for all) worked: seats were offered online, a
        visit was booked for the day, or a ticket was issued or called. A closed day,
        weekend or holiday has none of these."""
        return bool(
            self.capacity.offered
            or self.counts.bookings
            or self.counts.walk_ins
            or self.times.wait.count
        )


@dataclass
class ServiceRow:
    """One service type, with its name in the viewer's language."""

    service_type_id: int
    code: str
    name: str
    counts: Counts = field(default_factory=Counts)
    times: Times = field(default_factory=Times)


@dataclass
class Report:
    """Everything the report page shows for an office (or all) and a period."""

    office: Office | None
    first_day: date
    last_day: date
    total: Counts
    capacity: Capacity
    times: Times
    days: list[DayRow]
    services: list[ServiceRow]


@dataclass
class Samples:
    """Durations in whole microseconds (floats, exact below 2**53), collected before their
    statistics are taken."""

    lead: list[float] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)


@dataclass
class ServiceFigures:
    """What one service adds to a day, or to a period: counts and durations."""

    counts: Counts = field(default_factory=Counts)
    samples: Samples = field(default_factory=Samples)


def _no_services() -> defaultdict[int, ServiceFigures]:
    return defaultdict(ServiceFigures)


@dataclass
class DayFigures:
    """Everything one local day of an office adds to a report, which is what a daily
    figure stores (consular/models/figures.py).

    `services` holds only the services the day counts something for, by service type id:
    the report lists a service when any of its days does.
    """

    counts: Counts = field(default_factory=Counts)
    capacity: Capacity = field(default_factory=Capacity)
    samples: Samples = field(default_factory=Samples)
    services: defaultdict[int, ServiceFigures] = field(default_factory=_no_services)


def check_period(first_day: date, last_day: date) -> None:
    """Refuse a reversed period or one longer than MAX_PERIOD_DAYS."""
    if last_day < first_day:
        raise InvalidPeriod(_l("The last day must not be before the first day."), "to")
    if (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidPeriod(
            lazy_ngettext(
                "Choose a period of at most %(num)d day.",
                "Choose a period of at most %(num)d days.",
                MAX_PERIOD_DAYS,
            ),
            "to",
        )


def day_bounds(office: Office, first_day: date, last_day: date) -> list[datetime]:
    """The UTC instants at which each local day of the period starts, and the one after."""
    count = (last_day - first_day).days + 1
    return [
        local_day_bounds(first_day + timedelta(days=i), office.zone)[0] for i in range(count)
    ] + [local_day_bounds(last_day, office.zone)[1]]


def local_day_index(
    column: sa.SQLColumnExpression[datetime], bounds: list[datetime]
) -> sa.ColumnElement[int]:
    """SQL: the number of the local day (0 = the first) an instant within the bounds is on.

    A CASE over the days' UTC bounds, so it is right across daylight-saving changes and
    needs no time-zone support from the database.
    """
    return sa.case(*[(column < bound, index) for index, bound in enumerate(bounds[1:])], else_=-1)


def offices_in_scope(session: SessionLike, office: Office | None) -> list[Office]:
    """The office asked for, or every office."""
    if office is not None:
        return [office]
    return list(session.scalars(sa.select(Office).order_by(Office.id)))


def build_report(
    session: SessionLike,
    office: Office | None,
    first_day: date,
    last_day: date,
    locale: str,
    *,
    from_figures: bool = True,
) -> Report:
    """Count and time everything the report shows for an office (None: all) and a period.

    Days with a stored daily figure are read from it; `from_figures=False` counts every
    day from the visits, seats and tickets, which gives the same report.
    """
    check_period(first_day, last_day)
    span = (last_day - first_day).days + 1
    # Each day's figures, one per office: put together, never copied into one another.
    per_day: list[list[DayFigures]] = [[] for _ in range(span)]
    for place in offices_in_scope(session, office):
        for offices, figures in zip(
            per_day, office_days(session, place, first_day, last_day, from_figures), strict=True
        ):
            offices.append(figures)

    days: list[DayRow] = []
    total, capacity = Counts(), Capacity()
    by_service: defaultdict[int, list[ServiceFigures]] = defaultdict(list)
    for offset, offices in enumerate(per_day):
        row = DayRow(day=first_day + timedelta(days=offset))
        for figures in offices:
            row.counts.add(figures.counts)
            row.capacity.add(figures.capacity)
            for service_type_id, part in figures.services.items():
                by_service[service_type_id].append(part)
        row.times = _times([figures.samples for figures in offices])
        total.add(row.counts)
        capacity.add(row.capacity)
        days.append(row)

    return Report(
        office=office,
        first_day=first_day,
        last_day=last_day,
        total=total,
        capacity=capacity,
        times=_times([figures.samples for offices in per_day for figures in offices]),
        days=days,
        services=_service_rows(session, by_service, locale),
    )


def _times(parts: list[Samples]) -> Times:
    """The statistics of the durations of several days (or offices) taken together."""
    return Times(
        lead=DurationStats.of(chain.from_iterable(part.lead for part in parts)),
        wait=DurationStats.of(chain.from_iterable(part.wait for part in parts)),
        service=DurationStats.of(chain.from_iterable(part.service for part in parts)),
    )


def office_days(
    session: SessionLike,
    office: Office,
    first_day: date,
    last_day: date,
    from_figures: bool = True,
) -> list[DayFigures]:
    """One office's figures for each day of the period: stored ones where they still count
    the day's instants, and the others counted from the visits, a run of days at a time."""
    span = (last_day - first_day).days + 1
    days: list[DayFigures | None] = [None] * span
    if from_figures:
        for offset, figures in stored_days(session, office, first_day, last_day).items():
            days[offset] = figures
    missing = [offset for offset, figures in enumerate(days) if figures is None]
    for first, last in runs(missing):
        days[first : last + 1] = compute_days(
            session, office, first_day + timedelta(days=first), first_day + timedelta(days=last)
        )
    return [figures or DayFigures() for figures in days]


def runs(offsets: list[int]) -> list[tuple[int, int]]:
    """Increasing numbers as runs of consecutive ones: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for offset in offsets:
        if runs and runs[-1][1] == offset - 1:
            runs[-1] = (runs[-1][0], offset)
        else:
            runs.append((offset, offset))
    return runs


def _figure_columns(model: type[DailyFigure] | type[DailyServiceFigure]) -> list[Any]:
    """A figure's counts and durations, in the order of Counts' and Samples' fields."""
    return [getattr(model, name) for name in COUNT_NAMES] + [
        getattr(model, f"{name}_samples") for name in SAMPLE_NAMES
    ]


def _counts_and_samples(values: Sequence[Any]) -> tuple[Counts, Samples]:
    return Counts(*values[: len(COUNT_NAMES)]), Samples(*values[len(COUNT_NAMES) :])


def stored_days(
    session: SessionLike, office: Office, first_day: date, last_day: date
) -> dict[int, DayFigures]:
    """The office's stored daily figures of the period, by the day's offset in it; only
    those counted over the bounds the day has now in the office's zone."""
    bounds = day_bounds(office, first_day, last_day)
    in_period = sa.and_(
        DailyFigure.office_id == office.id,
        DailyFigure.day >= first_day,
        DailyFigure.day <= last_day,
        DailyFigure.computed_at.is_not(None),
    )
    found: dict[int, tuple[int, DayFigures]] = {}
    for figure_id, day, starts_at, ends_at, offered, booked, *values in session.execute(
        sa.select(
            DailyFigure.id,
            DailyFigure.day,
            DailyFigure.day_starts_at,
            DailyFigure.day_ends_at,
            DailyFigure.seats_offered,
            DailyFigure.seats_booked,
            *_figure_columns(DailyFigure),
        ).where(in_period)
    ):
        offset = (day - first_day).days
        if (starts_at, ends_at) != (bounds[offset], bounds[offset + 1]):
            continue  # counted in another zone (or under other time-zone rules)
        counts, samples = _counts_and_samples(values)
        found[figure_id] = (
            offset,
            DayFigures(counts=counts, capacity=Capacity(offered, booked), samples=samples),
        )
    if found:
        for figure_id, service_type_id, *values in session.execute(
            sa.select(
                DailyServiceFigure.figure_id,
                DailyServiceFigure.service_type_id,
                *_figure_columns(DailyServiceFigure),
            )
            .join(DailyFigure, DailyFigure.id == DailyServiceFigure.figure_id)
            .where(in_period)
        ):
            if figure_id in found:
                counts, samples = _counts_and_samples(values)
                found[figure_id][1].services[service_type_id] = ServiceFigures(counts, samples)
    return dict(found.values())


def compute_days(
    session: SessionLike, office: Office, first_day: date, last_day: date
) -> list[DayFigures]:
    """Count one office's days from `first_day` to `last_day` from its visits, seats and
    tickets: the definition of every number of the report, and of every stored figure."""
    bounds = day_bounds(office, first_day, last_day)
    days = [DayFigures() for _ in bounds[1:]]
    _count_bookings(session, office, bounds, days)
    _count_capacity(session, office, bounds, days)
    _count_tickets(session, office, first_day, last_day, days)
    return days


def _bookings_condition(office: Office, bounds: list[datetime]) -> sa.ColumnElement[bool]:
    """Bookings (confirmed at some point) of the office whose visit starts in the period.

    A condition on the appointment itself, not `id IN (subquery)`: PostgreSQL reads the
    latter by scanning every appointment (cost 11,568 against 4,591 at 200k appointments).
    """
    return sa.and_(
        Appointment.office_id == office.id,
        Appointment.starts_at >= bounds[0],
        Appointment.starts_at < bounds[-1],
        Appointment.confirmed_at.is_not(None),
    )


def _add_outcome(counts: Counts, status: str) -> None:
    counts.bookings += 1
    outcome = OUTCOMES.get(status)
    if outcome is not None:
        setattr(counts, outcome, getattr(counts, outcome) + 1)


def _count_bookings(
    session: SessionLike, office: Office, bounds: list[datetime], days: list[DayFigures]
) -> None:
    """Bookings and their outcomes, and lead times, on the visit's day: once for the day,
    once for each of the visit's services."""
    rows = session.execute(
        sa.select(
            Appointment.id,
            local_day_index(Appointment.starts_at, bounds),
            Appointment.status,
            Appointment.starts_at,
            Appointment.confirmed_at,
            AppointmentService.service_type_id,
        )
        .outerjoin(AppointmentService, AppointmentService.appointment_id == Appointment.id)
        .where(_bookings_condition(office, bounds))
    )
    seen: set[int] = set()
    for appointment_id, offset, status, starts_at, confirmed_at, service_type_id in rows:
        if not 0 <= offset < len(days):
            continue
        day = days[offset]
        lead = (starts_at - confirmed_at) / MICROSECOND
        if service_type_id is not None:
            service = day.services[service_type_id]
            _add_outcome(service.counts, status)
            service.samples.lead.append(lead)
        if appointment_id not in seen:
            seen.add(appointment_id)
            _add_outcome(day.counts, status)
            day.samples.lead.append(lead)


def _count_capacity(
    session: SessionLike, office: Office, bounds: list[datetime], days: list[DayFigures]
) -> None:
    in_period = sa.and_(
        Slot.office_id == office.id, Slot.starts_at >= bounds[0], Slot.starts_at < bounds[-1]
    )
    offered = (
        sa.select(local_day_index(Slot.starts_at, bounds).label("day"), Slot.capacity)
        .where(in_period, Slot.is_blocked.is_(False))
        .subquery()
    )
    # Grouped through a subquery: PostgreSQL would not match a CASE with bound parameters
    # in GROUP BY to the same CASE in the select list.
    for day, seats in session.execute(
        sa.select(offered.c.day, sa.func.sum(offered.c.capacity)).group_by(offered.c.day)
    ):
        if 0 <= day < len(days):
            days[day].capacity.offered += int(seats or 0)

    # The seats a booking takes now: a seat left by a reschedule has a release time.
    booked = (
        sa.select(local_day_index(Slot.starts_at, bounds).label("day"))
        .select_from(appointment_slot)
        .join(Slot, Slot.id == seat.slot_id)
        .join(Appointment, Appointment.id == seat.appointment_id)
        .where(
            in_period,
            # Left out of both sides, so that use never passes 100 % on a slot blocked later.
            Slot.is_blocked.is_(False),
            seat.release_at.is_(None),
            Appointment.confirmed_at.is_not(None),
            Appointment.status != Status.CANCELLED,
        )
        .subquery()
    )
    for day, seats in session.execute(
        sa.select(booked.c.day, sa.func.count()).group_by(booked.c.day)
    ):
        if 0 <= day < len(days):
            days[day].capacity.booked += int(seats)


def _count_tickets(
    session: SessionLike, office: Office, first_day: date, last_day: date, days: list[DayFigures]
) -> None:
    """Walk-ins, waiting and service times on the ticket's day, for the day and under the
    service the ticket ended with."""
    rows = session.execute(
        sa.select(
            Ticket.service_day,
            Ticket.service_type_id,
            Ticket.status,
            Ticket.is_walk_in,
            Ticket.arrived_at,
            Ticket.first_called_at,
            Ticket.finished_at,
        ).where(
            Ticket.office_id == office.id,
            Ticket.service_day >= first_day,
            Ticket.service_day <= last_day,
            Ticket.status != TicketStatus.CANCELLED,
            sa.or_(Ticket.is_walk_in.is_(True), Ticket.first_called_at.is_not(None)),
        )
    )
    for service_day, service_type_id, status, is_walk_in, arrived, called, finished in rows:
        day = days[(service_day - first_day).days]
        service = day.services[service_type_id] if service_type_id is not None else None
        if is_walk_in:
            day.counts.walk_ins += 1
            if service is not None:
                service.counts.walk_ins += 1
        if called is None:
            continue
        wait = (called - arrived) / MICROSECOND
        served = status == TicketStatus.SERVED and finished is not None
        for samples in (day.samples, service.samples) if service else (day.samples,):
            samples.wait.append(wait)
            if served:
                samples.service.append((finished - called) / MICROSECOND)


def _service_rows(
    session: SessionLike, by_service: dict[int, list[ServiceFigures]], locale: str
) -> list[ServiceRow]:
    if not by_service:
        return []
    services = session.scalars(
        sa.select(ServiceType)
        .where(ServiceType.id.in_(by_service))
        .order_by(ServiceType.sort_order, ServiceType.id)
    )
    rows = []
    for service in services:
        counts = Counts()
        for part in by_service[service.id]:
            counts.add(part.counts)
        times = _times([part.samples for part in by_service[service.id]])
        rows.append(
            ServiceRow(service.id, service.code, service.display_name(locale), counts, times)
        )
    return rows


# The CSV tables: stable English column names, numbers without locale formatting.
TABLES: tuple[str, ...] = ("days", "services", "day-times", "service-times")

COUNT_COLUMNS = (
    "bookings",
    "cancellations",
    "attended",
    "no_shows",
    "outcome_pending",
    "no_show_rate",
    "walk_ins",
)
TIME_COLUMNS = (
    "lead_count",
    "lead_median_days",
    "lead_mean_days",
    "wait_count",
    "wait_median_minutes",
    "wait_mean_minutes",
    "service_count",
    "service_median_minutes",
    "service_mean_minutes",
)

Cell = str | int | float


@dataclass(frozen=True)
class Table:
    """A report table as plain rows, for CSV."""

    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def _ratio(value: float | None) -> Cell:
    return "" if value is None else round(value, 4)


def _in_unit(value: timedelta | None, unit: timedelta) -> Cell:
    return "" if value is None else round(value / unit, 2)


def _count_cells(counts: Counts) -> tuple[Cell, ...]:
    return (
        counts.bookings,
        counts.cancellations,
        counts.attended,
        counts.no_shows,
        counts.pending,
        _ratio(counts.no_show_rate),
        counts.walk_ins,
    )


def _time_cells(times: Times) -> tuple[Cell, ...]:
    day, minute = timedelta(days=1), timedelta(minutes=1)
    return (
        times.lead.count,
        _in_unit(times.lead.median, day),
        _in_unit(times.lead.mean, day),
        times.wait.count,
        _in_unit(times.wait.median, minute),
        _in_unit(times.wait.mean, minute),
        times.service.count,
        _in_unit(times.service.median, minute),
        _in_unit(times.service.mean, minute),
    )


def report_table(report: Report, name: str) -> Table:
    """One of TABLES as plain rows (KeyError for an unknown name)."""
    if name == "days":
        return Table(
            ("day", *COUNT_COLUMNS, "seats_offered", "seats_booked", "capacity_use"),
            [
                (
                    row.day.isoformat(),
                    *_count_cells(row.counts),
                    row.capacity.offered,
                    row.capacity.booked,
                    _ratio(row.capacity.use),
                )
                for row in report.days
            ],
        )
    if name == "services":
        return Table(
            ("service_code", "service", *COUNT_COLUMNS),
            [(row.code, row.name, *_count_cells(row.counts)) for row in report.services],
        )
    if name == "day-times":
        return Table(
            ("day", *TIME_COLUMNS),
            [(row.day.isoformat(), *_time_cells(row.times)) for row in report.days],
        )
    if name == "service-times":
        return Table(
            ("service_code", "service", *TIME_COLUMNS),
            [(row.code, row.name, *_time_cells(row.times)) for row in report.services],
        )
    raise KeyError(name)


def table_values(report: Report) -> dict[str, Table]:
    """Every table of the report, by name."""
    return {name: report_table(report, name) for name in TABLES}
