"""What the clerk's day page lists, read as plain rows of the columns it shows.

A day holds a few hundred visits and tickets. Loaded as ORM objects, with every column and
the JSON of their details and service snapshots, they cost many times the rest of the page,
so the page reads rows of the columns it shows, in one statement for the visits (with their
services) and one for the tickets, whatever the size of the day.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from consular.database import SessionLike
from consular.models import Appointment, AppointmentService, Desk, Office, Status, Ticket
from consular.models.i18n import localized
from consular.services import predicates, queue
from consular.services.schedule import local_day_bounds
from consular.services.timefmt import local_time_text


def day_conditions(office: Office, day: date, search: str = "") -> list[sa.ColumnElement[bool]]:
    """The appointments a day's list shows: the office's visits of that local day that were
    booked (not holds, live or expired), matching the search if there is one."""
    start, end = local_day_bounds(day, office.zone)
    conditions = [
        Appointment.office_id == office.id,
        Appointment.starts_at >= start,
        Appointment.starts_at < end,
        Appointment.status.not_in([Status.HELD, Status.EXPIRED]),
    ]
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
    # The services' names as booked (their snapshots), in the page's language.
    services: list[str] = field(default_factory=list)


def day_visits(
    session: SessionLike,
    office: Office,
    day: date,
    today: date,
    locale: str,
    ticket_labels: dict[int, str],
    search: str = "",
) -> list[DayVisit]:
    """The day's appointments in time order, each with its services, ticket and whether it
    can be checked in now (the rule of consular.services.predicates), in one statement."""
    rows = session.execute(
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
        .where(*day_conditions(office, day, search))
        .order_by(Appointment.starts_at, Appointment.id, AppointmentService.id)
    )
    zone = office.zone
    names: dict[str, str] = {}
    visits: list[DayVisit] = []
    visit: DayVisit | None = None
    for row in rows:
        if visit is None or visit.id != row.id:
            visit = DayVisit(
                id=row.id,
                reference=row.reference,
                time=local_time_text(row.starts_at, zone, locale),
                status=row.status,
                given_name=row.given_name,
                family_name=row.family_name,
                masked_iin=masked_iin(row.iin),
                ticket=ticket_labels.get(row.id),
                # Every row of the list is a visit of `day` (the bounds above).
                can_check_in=predicates.can_check_in_on(row.status, day, today),
            )
            visits.append(visit)
        if row.snapshot is not None:
            name = names.get(row.snapshot)
            if name is None:
                name = names[row.snapshot] = localized(json.loads(row.snapshot).get("name"), locale)
            visit.services.append(name)
    return visits


def day_tickets(session: SessionLike, office: Office, day: date) -> Sequence[sa.Row[Any]]:
    """The day's tickets in the queue's order, with their desk's name and their visitor's
    name and reference (none for a walk-in)."""
    return session.execute(
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
            Desk.name.label("desk_name"),
            Appointment.given_name,
            Appointment.family_name,
            Appointment.reference,
        )
        .outerjoin(Desk, Desk.id == Ticket.desk_id)
        .outerjoin(Appointment, Appointment.id == Ticket.appointment_id)
        .where(Ticket.office_id == office.id, Ticket.service_day == day)
        .order_by(*queue.waiting_order())
    ).all()
