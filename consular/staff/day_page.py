"""What the clerk's day page lists, read as plain rows of the columns it shows.

A day holds a few hundred visits and tickets. Loaded as ORM objects, with every column and
the JSON of their details and service snapshots, they cost many times the rest of the page,
so the page reads rows of the columns it shows, in one statement for the visits (with their
services) and one for the tickets, whatever the size of the day.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from consular.database import SessionLike
from consular.models import (
    Appointment,
    AppointmentService,
    DayPageVersion,
    Desk,
    Office,
    OfficePageVersion,
    ServiceType,
    Status,
    Ticket,
    TicketStatus,
    User,
)
from consular.models.i18n import localized
from consular.services import desks, predicates, queue
from consular.services.schedule import local_day_bounds
from consular.services.timefmt import local_time_text

# The day's statements are built once, with their values as parameters: the page runs them at
# every load, and building a statement (and the key of its compiled form) cost more than the
# database took to answer it.
_BOOKED_ON_DAY = (
    Appointment.office_id == sa.bindparam("office_id"),
    Appointment.starts_at >= sa.bindparam("start"),
    Appointment.starts_at < sa.bindparam("end"),
    Appointment.status.not_in([Status.HELD, Status.EXPIRED]),
)


def day_parameters(office: Office, day: date) -> dict[str, Any]:
    """The values of the day's statements: the office and the bounds of its local day."""
    start, end = local_day_bounds(day, office.zone)
    return {"office_id": office.id, "start": start, "end": end}


def day_conditions(search: str = "") -> list[sa.ColumnElement[bool]]:
    """The appointments a day's list shows (with `day_parameters`): the office's visits of
    that local day that were booked (not holds, live or expired), matching the search if
    there is one."""
    conditions = list(_BOOKED_ON_DAY)
    term = search.strip()
    if term:
        like = f"%{term.lower()}%"
        digits = "".join(c for c in term if c.isdigit())
        matches = [
            sa.func.lower(Appointment.reference).like(like),
            sa.func.lower(Appointment.given_name + " " + Appointment.family_name).like(like),
            sa.func.lower(Appointment.family_name + " " + Appointment.given_name).like(like),
        ]
        if len(digits) >= 4:
            matches += [
                Appointment.iin.like(f"%{digits}%"),
                Appointment.phone.like(f"%{digits}%"),
            ]
        conditions.append(sa.or_(*matches))
    return conditions


_VISITS = (
    sa.select(
        Appointment.id,
        Appointment.reference,
        Appointment.starts_at,
        Appointment.status,
        Appointment.given_name,
        Appointment.family_name,
        Appointment.iin,
        # As text, parsed once per distinct snapshot below: a day's visits share a few
        # versions of a few services, and parsing each row's JSON cost more than the rest.
        sa.cast(AppointmentService.snapshot, sa.Text).label("snapshot"),
    )
    .outerjoin(AppointmentService, AppointmentService.appointment_id == Appointment.id)
    .order_by(Appointment.starts_at, Appointment.id, AppointmentService.id)
)
_UNSEARCHED_VISITS = _VISITS.where(*_BOOKED_ON_DAY)

_ASSIGNED_DESK = aliased(Desk)
_TICKETS = (
    sa.select(
        Ticket.id,
        Ticket.label,
        Ticket.status,
        Ticket.is_priority,
        Ticket.note,
        Ticket.call_count,
        Ticket.desk_id,
        Ticket.service_type_id,
        Ticket.appointment_id,
        Ticket.arrived_at,
        Desk.name.label("desk_name"),
        _ASSIGNED_DESK.name.label("assigned_desk_name"),
        sa.cast(ServiceType.name, sa.Text).label("service_name"),
        Appointment.given_name,
        Appointment.family_name,
        Appointment.reference,
        Appointment.passport_number,
        # Whether the ticket may be called to the clerk's desk (none: no desk, never).
        sa.case((queue.can_go_to_desk(sa.bindparam("desk_id")), True), else_=False).label(
            "for_desk"
        ),
    )
    .outerjoin(Desk, Desk.id == Ticket.desk_id)
    .outerjoin(_ASSIGNED_DESK, _ASSIGNED_DESK.id == Ticket.assigned_desk_id)
    .outerjoin(ServiceType, ServiceType.id == Ticket.service_type_id)
    .outerjoin(Appointment, Appointment.id == Ticket.appointment_id)
    .where(Ticket.office_id == sa.bindparam("office_id"), Ticket.service_day == sa.bindparam("day"))
    .order_by(*queue.waiting_order())
)


@dataclass(slots=True)
class DayTicket:
    """One row of the day's tickets, as the page writes it."""

    id: int
    label: str
    status: TicketStatus
    is_priority: bool
    note: str
    call_count: int
    desk_id: int | None
    service_type_id: int | None
    appointment_id: int | None
    desk_name: str | None
    # The desk a transfer sent the ticket to, which alone may call it.
    assigned_desk_name: str | None
    service: str
    given_name: str | None
    family_name: str | None
    reference: str | None
    passport_number: str | None
    # Whole minutes since the visitor arrived, while waiting.
    waited_minutes: int | None
    for_desk: bool


def masked_iin(iin: str) -> str:
    """An IIN with all but its last 4 digits hidden, for lists."""
    return "•" * 8 + iin[-4:]


@dataclass(slots=True)
class DayVisit:
    """One row of the day's list of appointments, as the page writes it."""

    id: int
    reference: str
    time: str
    status: Status
    given_name: str
    family_name: str
    masked_iin: str
    # The label of the visit's ticket once checked in.
    ticket: str | None
    can_check_in: bool
    # Whether it may be marked a no-show now, or a no-show undone (the queue's rules).
    can_mark_no_show: bool = False
    can_undo_no_show: bool = False
    # The services' names as booked (their snapshots), in the page's language.
    services: str = ""


def day_visits(
    session: SessionLike,
    office: Office,
    day: date,
    today: date,
    locale: str,
    ticket_labels: dict[int, str],
    now: datetime,
    no_show_grace: timedelta,
    search: str = "",
) -> list[DayVisit]:
    """The day's appointments in time order, each with its services, ticket and whether it
    can be checked in, marked a no-show or have its no-show undone now (the rules of
    consular.services.predicates and the queue), in one statement."""
    statement = _VISITS.where(*day_conditions(search)) if search.strip() else _UNSEARCHED_VISITS
    rows = session.execute(statement, day_parameters(office, day))
    zone = office.zone
    # Visits share a few start times and service versions: each is written once.
    times: dict[datetime, str] = {}
    names: dict[str, str] = {}
    visits: list[DayVisit] = []
    services: list[list[str]] = []
    last_id = None
    for id_, reference, starts_at, status, given_name, family_name, iin, snapshot in rows:
        if id_ != last_id:
            last_id = id_
            time = times.get(starts_at)
            if time is None:
                time = times[starts_at] = local_time_text(starts_at, zone, locale)
            visits.append(
                DayVisit(
                    id_,
                    reference,
                    time,
                    status,
                    given_name,
                    family_name,
                    masked_iin(iin),
                    ticket_labels.get(id_),
                    # Every row of the list is a visit of `day` (the bounds above).
                    predicates.can_check_in_on(status, day, today),
                    queue.can_mark_no_show_at(status, starts_at, now, no_show_grace),
                    queue.can_undo_no_show_on(status, id_ in ticket_labels, day, today),
                )
            )
            services.append([])
        if snapshot is not None:
            name = names.get(snapshot)
            if name is None:
                name = names[snapshot] = localized(json.loads(snapshot).get("name"), locale)
            services[-1].append(name)
    for visit, visit_services in zip(visits, services, strict=True):
        visit.services = ", ".join(visit_services)
    return visits


def day_tickets(
    session: SessionLike,
    office: Office,
    day: date,
    now: datetime | None = None,
    locale: str = "en",
    desk_id: int | None = None,
) -> list[DayTicket]:
    """The day's tickets in the queue's order, with their service, their desk's name and the
    desk a transfer sent them to, their visitor's name and reference (none for a walk-in),
    the minutes waited, and whether they may be called to the clerk's desk `desk_id`."""
    rows = session.execute(_TICKETS, {"office_id": office.id, "day": day, "desk_id": desk_id})
    names: dict[str | None, str] = {None: ""}
    tickets = []
    for row in rows:
        service = names.get(row.service_name)
        if service is None:
            service = names[row.service_name] = localized(json.loads(row.service_name), locale)
        waited = (
            max(0, int((now - row.arrived_at).total_seconds() // 60))
            if now is not None and row.status == TicketStatus.WAITING
            else None
        )
        tickets.append(
            DayTicket(
                row.id,
                row.label,
                row.status,
                row.is_priority,
                row.note,
                row.call_count,
                row.desk_id,
                row.service_type_id,
                row.appointment_id,
                row.desk_name,
                row.assigned_desk_name,
                service,
                row.given_name,
                row.family_name,
                row.reference,
                row.passport_number,
                waited,
                bool(row.for_desk),
            )
        )
    return tickets


def current_visitor_services(
    session: SessionLike, ticket: DayTicket, visits: Sequence[DayVisit], locale: str
) -> str:
    """The services of the visitor at the desk: the booking's (from the day's list, or read
    when a search left the visit out), else the walk-in ticket's service."""
    if ticket.appointment_id is None:
        return ticket.service
    visit = next((v for v in visits if v.id == ticket.appointment_id), None)
    if visit is not None:
        return visit.services
    snapshots = session.scalars(
        sa.select(AppointmentService.snapshot)
        .where(AppointmentService.appointment_id == ticket.appointment_id)
        .order_by(AppointmentService.id)
    )
    return ", ".join(localized(snapshot.get("name"), locale) for snapshot in snapshots)


# What the page of a day shows changes when its office's version or the version of one of
# the UTC dates its local day spans changes (consular/models/page_versions.py); its walk-in
# places left are today's, so today's dates count too. Each counter only grows: their sum
# changes with every write.
_VERSIONS = sa.select(
    sa.select(OfficePageVersion.version)
    .where(OfficePageVersion.office_id == sa.bindparam("office_id"))
    .scalar_subquery(),
    sa.select(sa.func.sum(DayPageVersion.version))
    .where(
        DayPageVersion.office_id == sa.bindparam("office_id"),
        sa.or_(
            DayPageVersion.day.between(sa.bindparam("first"), sa.bindparam("last")),
            DayPageVersion.day.between(sa.bindparam("today_first"), sa.bindparam("today_last")),
        ),
    )
    .scalar_subquery(),
)


def utc_dates(office: Office, day: date) -> tuple[date, date]:
    """The first and last UTC dates of the office's local day."""
    start, end = local_day_bounds(day, office.zone)
    return start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()


def page_version(session: SessionLike, office: Office, day: date, today: date) -> str:
    """The version of what the office's page of `day` shows on `today`, in one statement:
    it changes with every committed write the page would show."""
    return page_state(session, office, day, today, None)[0]


def page_state(
    session: SessionLike, office: Office, day: date, today: date, clerk: User | None
) -> tuple[str, int | None]:
    """The version of what the office's page of `day` shows on `today` (it changes with
    every committed write the page would show), and the desk the clerk works at, in one
    statement."""
    first, last = utc_dates(office, day)
    today_first, today_last = utc_dates(office, today)
    statement = _VERSIONS
    if clerk is not None:
        statement = statement.add_columns(
            desks.held_desk_query(office.id, clerk).limit(1).scalar_subquery()
        )
    # Through the connection: a Core statement needs none of the ORM's handling of results.
    row = (
        session.connection()
        .execute(
            statement,
            {
                "office_id": office.id,
                "first": first,
                "last": last,
                "today_first": today_first,
                "today_last": today_last,
            },
        )
        .one()
    )
    office_version, day_version = row[0], row[1]
    desk_id = row[2] if clerk is not None else None
    return f"{office_version or 0}.{day_version or 0}", desk_id
