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
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext

from consular.database import SessionLike
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


@dataclass(frozen=True)
class DurationStats:
    """Median and mean of a set of durations, and how many there were."""

    count: int = 0
    median: timedelta | None = None
    mean: timedelta | None = None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> DurationStats:
        """The statistics of durations given in seconds."""
        if not seconds:
            return cls()
        return cls(
            count=len(seconds),
            median=timedelta(seconds=statistics.median(seconds)),
            mean=timedelta(seconds=statistics.fmean(seconds)),
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
class _Samples:
    """Durations in seconds, collected before their statistics are taken."""

    lead: list[float] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)

    def times(self) -> Times:
        return Times(
            lead=DurationStats.of(self.lead),
            wait=DurationStats.of(self.wait),
            service=DurationStats.of(self.service),
        )


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
    session: SessionLike, office: Office | None, first_day: date, last_day: date, locale: str
) -> Report:
    """Count and time everything the report shows for an office (None: all) and a period."""
    check_period(first_day, last_day)
    span = (last_day - first_day).days + 1
    days = [DayRow(day=first_day + timedelta(days=i)) for i in range(span)]
    day_samples = [_Samples() for _ in days]
    by_service: dict[int, Counts] = defaultdict(Counts)
    service_samples: dict[int, _Samples] = defaultdict(_Samples)
    total_samples = _Samples()

    for place in offices_in_scope(session, office):
        bounds = day_bounds(place, first_day, last_day)
        _count_bookings(session, place, bounds, days, by_service)
        _count_capacity(session, place, bounds, days)
        _sample_lead_times(session, place, bounds, day_samples, service_samples, total_samples)
    _count_walk_ins(session, office, first_day, last_day, days, by_service)
    _sample_ticket_times(
        session, office, first_day, last_day, day_samples, service_samples, total_samples
    )

    total = Counts()
    capacity = Capacity()
    for row, samples in zip(days, day_samples, strict=True):
        row.times = samples.times()
        total.add(row.counts)
        capacity.offered += row.capacity.offered
        capacity.booked += row.capacity.booked

    return Report(
        office=office,
        first_day=first_day,
        last_day=last_day,
        total=total,
        capacity=capacity,
        times=total_samples.times(),
        days=days,
        services=_service_rows(session, by_service, service_samples, locale),
    )


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


def _add_outcome(counts: Counts, status: str, number: int) -> None:
    counts.bookings += number
    outcome = OUTCOMES.get(status)
    if outcome is not None:
        setattr(counts, outcome, getattr(counts, outcome) + number)


def _count_bookings(
    session: SessionLike,
    office: Office,
    bounds: list[datetime],
    days: list[DayRow],
    by_service: dict[int, Counts],
) -> None:
    # Grouped through a subquery: PostgreSQL would not match a CASE with bound parameters
    # in GROUP BY to the same CASE in the select list.
    per_visit = (
        sa.select(
            local_day_index(Appointment.starts_at, bounds).label("day"),
            Appointment.status.label("status"),
        )
        .where(_bookings_condition(office, bounds))
        .subquery()
    )
    for day, status, number in session.execute(
        sa.select(per_visit.c.day, per_visit.c.status, sa.func.count()).group_by(
            per_visit.c.day, per_visit.c.status
        )
    ):
        if 0 <= day < len(days):
            _add_outcome(days[day].counts, status, number)

    for service_type_id, status, number in session.execute(
        sa.select(AppointmentService.service_type_id, Appointment.status, sa.func.count())
        .join(Appointment, Appointment.id == AppointmentService.appointment_id)
        .where(_bookings_condition(office, bounds))
        .group_by(AppointmentService.service_type_id, Appointment.status)
    ):
        _add_outcome(by_service[service_type_id], status, number)


def _count_capacity(
    session: SessionLike, office: Office, bounds: list[datetime], days: list[DayRow]
) -> None:
    in_period = sa.and_(
        Slot.office_id == office.id, Slot.starts_at >= bounds[0], Slot.starts_at < bounds[-1]
    )
    offered = (
        sa.select(local_day_index(Slot.starts_at, bounds).label("day"), Slot.capacity)
        .where(in_period, Slot.is_blocked.is_(False))
        .subquery()
    )
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


def _sample_lead_times(
    session: SessionLike,
    office: Office,
    bounds: list[datetime],
    day_samples: list[_Samples],
    service_samples: dict[int, _Samples],
    total_samples: _Samples,
) -> None:
    rows = session.execute(
        sa.select(
            Appointment.id,
            local_day_index(Appointment.starts_at, bounds),
            Appointment.starts_at,
            Appointment.confirmed_at,
            AppointmentService.service_type_id,
        )
        .outerjoin(AppointmentService, AppointmentService.appointment_id == Appointment.id)
        .where(_bookings_condition(office, bounds))
        .order_by(Appointment.id)
    )
    seen: set[int] = set()
    for appointment_id, day, starts_at, confirmed_at, service_type_id in rows:
        lead = (starts_at - confirmed_at).total_seconds()
        if service_type_id is not None:
            service_samples[service_type_id].lead.append(lead)
        if appointment_id in seen or not 0 <= day < len(day_samples):
            continue
        seen.add(appointment_id)
        day_samples[day].lead.append(lead)
        total_samples.lead.append(lead)


def _tickets_condition(
    office: Office | None, first_day: date, last_day: date
) -> sa.ColumnElement[bool]:
    condition = sa.and_(Ticket.service_day >= first_day, Ticket.service_day <= last_day)
    if office is not None:
        condition = sa.and_(condition, Ticket.office_id == office.id)
    return condition


def _count_walk_ins(
    session: SessionLike,
    office: Office | None,
    first_day: date,
    last_day: date,
    days: list[DayRow],
    by_service: dict[int, Counts],
) -> None:
    walk_in = sa.and_(
        _tickets_condition(office, first_day, last_day),
        Ticket.is_walk_in.is_(True),
        Ticket.status != TicketStatus.CANCELLED,
    )
    for day, service_type_id, number in session.execute(
        sa.select(Ticket.service_day, Ticket.service_type_id, sa.func.count())
        .where(walk_in)
        .group_by(Ticket.service_day, Ticket.service_type_id)
    ):
        days[(day - first_day).days].counts.walk_ins += number
        if service_type_id is not None:
            by_service[service_type_id].walk_ins += number


def _sample_ticket_times(
    session: SessionLike,
    office: Office | None,
    first_day: date,
    last_day: date,
    day_samples: list[_Samples],
    service_samples: dict[int, _Samples],
    total_samples: _Samples,
) -> None:
    rows = session.execute(
        sa.select(
            Ticket.service_day,
            Ticket.service_type_id,
            Ticket.status,
            Ticket.arrived_at,
            Ticket.first_called_at,
            Ticket.finished_at,
        )
        .where(
            _tickets_condition(office, first_day, last_day),
            Ticket.first_called_at.is_not(None),
            Ticket.status != TicketStatus.CANCELLED,
        )
        .order_by(Ticket.id)
    )
    for day, service_type_id, status, arrived_at, first_called_at, finished_at in rows:
        targets = [day_samples[(day - first_day).days], total_samples]
        if service_type_id is not None:
            targets.append(service_samples[service_type_id])
        wait = (first_called_at - arrived_at).total_seconds()
        served = status == TicketStatus.SERVED and finished_at is not None
        for samples in targets:
            samples.wait.append(wait)
            if served:
                samples.service.append((finished_at - first_called_at).total_seconds())


def _service_rows(
    session: SessionLike,
    by_service: dict[int, Counts],
    samples: dict[int, _Samples],
    locale: str,
) -> list[ServiceRow]:
    ids = set(by_service) | set(samples)
    if not ids:
        return []
    services = session.scalars(
        sa.select(ServiceType)
        .where(ServiceType.id.in_(ids))
        .order_by(ServiceType.sort_order, ServiceType.id)
    )
    return [
        ServiceRow(
            service_type_id=service.id,
            code=service.code,
            name=service.display_name(locale),
            counts=by_service.get(service.id, Counts()),
            times=samples[service.id].times() if service.id in samples else Times(),
        )
        for service in services
    ]


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
