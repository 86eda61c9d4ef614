"""The day's queue: check-in, walk-ins, calling to desks, serving, and closing the day.

Every change of a ticket is a conditional UPDATE on its expected status, so two clerks
acting on the same ticket at the same instant can never both succeed.
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from consular.database import SessionLike, rows_changed
from consular.models import (
    Appointment,
    Desk,
    DeskClaim,
    Office,
    ServiceType,
    Slot,
    Status,
    Ticket,
    TicketCounter,
    TicketStatus,
    User,
)
from consular.models.base import UTCDateTime
from consular.models.queue import OPEN_TICKET_STATUSES, desk_service
from consular.observability.events import appointment_event, ticket_event
from consular.services import transitions
from consular.services.audit import record
from consular.services.errors import InvalidState, NotFound
from consular.services.schedule import local_day_bounds, walk_in_seats
from consular.services.timefmt import local_time_text

MAX_CALLS = 3
EARLY_MARGIN = timedelta(minutes=30)
LATE_MARGIN = timedelta(minutes=10)
# The wait estimate: service times over the office's last SERVICE_DAYS days with visitors
# served, the newest SAMPLES of each service, and the configured duration while a service
# has fewer than MIN_SAMPLES; a desk is at work if it was used in the last WORKING_MINUTES.
SERVICE_DAYS = 20
SAMPLES = 200
MIN_SAMPLES = 3
WORKING_MINUTES = 30


def service_day(office: Office, now: datetime) -> date:
    """Today at the office, in its own time zone."""
    return now.astimezone(office.zone).date()


def _day_counter(session: SessionLike, office: Office, day: date) -> None:
    """Make sure the office's counter row for the day exists (created once, raced safely)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(TicketCounter)
        .values(office_id=office.id, service_day=day, last_number=0, walk_in_slots=0)
        .on_conflict_do_nothing()
    )


def _next_number(session: SessionLike, office: Office, day: date) -> int:
    """Raise the office's ticket counter for the day and return the new number."""
    _day_counter(session, office, day)
    return session.execute(
        sa.update(TicketCounter)
        .where(TicketCounter.office_id == office.id, TicketCounter.service_day == day)
        .values(last_number=TicketCounter.last_number + 1)
        .returning(TicketCounter.last_number)
    ).scalar_one()


def _take_walk_in_slots(
    session: SessionLike, office: Office, day: date, needed: int, allowance: int
) -> bool:
    """Count `needed` base slots against the day's walk-in allowance, by a conditional update
    on the counter row, so that clerks issuing walk-ins at once never pass it together."""
    _day_counter(session, office, day)
    taken = session.execute(
        sa.update(TicketCounter)
        .where(
            TicketCounter.office_id == office.id,
            TicketCounter.service_day == day,
            TicketCounter.walk_in_slots + needed <= allowance,
        )
        .values(walk_in_slots=TicketCounter.walk_in_slots + needed)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(taken) == 1


def _new_ticket(
    session: SessionLike, office: Office, now: datetime, queue_at: datetime, **fields: object
) -> Ticket:
    day = service_day(office, now)
    number = _next_number(session, office, day)
    ticket = Ticket(
        office=office,
        service_day=day,
        number=number,
        label=f"{office.ticket_prefix}-{number:03d}",
        queue_at=queue_at,
        arrived_at=now,
        status=TicketStatus.WAITING,
        **fields,
    )
    session.add(ticket)
    session.flush()
    return ticket


def arrival_note(appointment: Appointment, now: datetime) -> str:
    """'early', 'late' or '' for an arrival compared with the booked time."""
    if now < appointment.starts_at - EARLY_MARGIN:
        return "early"
    if now > appointment.starts_at + LATE_MARGIN:
        return "late"
    return ""


def check_in(
    session: SessionLike, appointment: Appointment, actor: User | None, now: datetime
) -> Ticket:
    """Register the arrival of a booked visitor and issue the day's ticket (`actor` None: at
    the waiting-room kiosk)."""
    office = appointment.office
    if appointment.starts_at.astimezone(office.zone).date() != service_day(office, now):
        raise InvalidState(_("This appointment is not for today."))
    if not transitions.change_status(
        session, [appointment.id], Status.CHECKED_IN, now, only_from=[Status.CONFIRMED]
    ):
        raise InvalidState(_("Only a confirmed appointment can be checked in."))
    first_line = appointment.service_lines[0] if appointment.service_lines else None
    ticket = _new_ticket(
        session,
        office,
        now,
        appointment.starts_at,
        appointment_id=appointment.id,
        service_type_id=first_line.service_type_id if first_line else None,
        note=arrival_note(appointment, now),
    )
    session.refresh(appointment)
    record(
        session,
        actor,
        now,
        "check_in",
        ticket,
        office_id=office.id,
        after={"ticket": ticket.label, "appointment": appointment.reference},
    )
    return ticket


def _desk_slots_query(office: Office, day: date) -> sa.Select[tuple[int]]:
    """The day's desk-slots of the office's schedule (slots added outside it don't count)."""
    start, end = local_day_bounds(day, office.zone)
    return sa.select(sa.func.coalesce(sa.func.sum(Slot.desks), 0)).where(
        Slot.office_id == office.id,
        Slot.starts_at >= start,
        Slot.starts_at < end,
        Slot.outside_schedule.is_(False),
    )


def _walk_ins_used_query(office: Office, day: date) -> sa.Select[tuple[int]]:
    return sa.select(TicketCounter.walk_in_slots).where(
        TicketCounter.office_id == office.id, TicketCounter.service_day == day
    )


def walk_in_allowance(session: SessionLike, office: Office, now: datetime) -> int:
    """How many base slots of today's desk capacity are kept for walk-ins: the office's share
    of the day's desk-slots, rounded up, the same seats sync_slots withholds from online
    booking."""
    seats = session.scalar(_desk_slots_query(office, service_day(office, now)))
    return walk_in_seats(int(seats or 0), office.walk_in_share)


def walk_ins_used(session: SessionLike, office: Office, now: datetime) -> int:
    """Base slots taken today by ordinary (not urgent) walk-ins."""
    used = session.scalar(_walk_ins_used_query(office, service_day(office, now)))
    return int(used or 0)


def walk_in_minutes_left(session: SessionLike, office: Office, now: datetime) -> int:
    """Desk-minutes of today's walk-in allowance not yet taken, in one statement (for pages).

    The allowance is kept in base slots; pages and refusals speak of it in minutes, the unit
    in which a service's length is known, so that what is shown as left and what a service
    needs (walk_in_minutes_needed) can be compared by a clerk at a glance."""
    day = service_day(office, now)
    seats, used = session.execute(
        sa.select(
            _desk_slots_query(office, day).scalar_subquery(),
            _walk_ins_used_query(office, day).scalar_subquery(),
        )
    ).one()
    slots_left = max(0, walk_in_seats(int(seats or 0), office.walk_in_share) - int(used or 0))
    return slots_left * office.slot_minutes


def walk_in_slots_needed(office: Office, duration_minutes: int) -> int:
    """Base slots of the walk-in allowance a walk-in for a service of that length takes."""
    return math.ceil(duration_minutes / office.slot_minutes)


def walk_in_minutes_needed(office: Office, duration_minutes: int) -> int:
    """Desk-minutes of the walk-in allowance a walk-in for a service of that length takes
    (whole slots, as the allowance is counted)."""
    return walk_in_slots_needed(office, duration_minutes) * office.slot_minutes


class WalkInsUsedUp(InvalidState):
    """Today's walk-in allowance has too little left for the service."""

    code = "walk_ins_used_up"


def issue_walk_in(
    session: SessionLike,
    office: Office,
    service: ServiceType,
    actor: User | None,
    now: datetime,
    *,
    urgent: bool = False,
    note: str = "",
) -> Ticket:
    """Issue a ticket to a visitor without a booking, within the office's walk-in share;
    an urgent case is always admitted and goes first (`actor` None: at the kiosk)."""
    if not urgent:
        needed = walk_in_slots_needed(office, service.duration_minutes)
        allowance = walk_in_allowance(session, office, now)
        if not _take_walk_in_slots(session, office, service_day(office, now), needed, allowance):
            left = walk_in_minutes_left(session, office, now)
            raise WalkInsUsedUp(
                _(
                    "Today's walk-in time is used up: %(left)d\u00a0min left, this service "
                    "needs %(needed)d\u00a0min. Offer a booking, or mark the case urgent.",
                    left=left,
                    needed=walk_in_minutes_needed(office, service.duration_minutes),
                )
            )
    ticket = _new_ticket(
        session,
        office,
        now,
        now if urgent else walk_in_queue_at(session, office, now),
        service_type_id=service.id,
        is_walk_in=True,
        is_priority=urgent,
        note=note[:500],
    )
    record(
        session,
        actor,
        now,
        "walk_in",
        ticket,
        office_id=office.id,
        after={"ticket": ticket.label, "urgent": urgent, "service": service.code},
    )
    return ticket


def waiting_order() -> list[sa.SQLColumnExpression[Any]]:
    """Priority first, then the queue time (see walk_in_queue_at), then arrival."""
    return [Ticket.is_priority.desc(), Ticket.queue_at, Ticket.arrived_at, Ticket.id]


def _is_ahead_of_walk_in(queue_at: datetime, now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition: waiting_order puts the ticket before an ordinary walk-in arriving now
    with this queue time (urgent tickets go first; a tie on the queue time goes to the
    earlier arrival, and nobody waiting arrived after now)."""
    return sa.or_(
        Ticket.is_priority.is_(True),
        Ticket.queue_at < queue_at,
        sa.and_(Ticket.queue_at == queue_at, Ticket.arrived_at <= now),
    )


def walk_in_queue_at(session: SessionLike, office: Office, now: datetime) -> datetime:
    """The queue time of an ordinary walk-in arriving now: now, or later if booked visitors
    are waiting who came before them for a time within the check-in window (EARLY_MARGIN
    from now): the latest of those visitors' appointment times.

    A booked visitor's queue time is their appointment, a walk-in's their arrival; without
    this a walk-in at 10:05 would go ahead of a visitor who came at 10:00 for 10:30. Taking
    the latest such time (not only the visitor's own) keeps the walk-in behind every booked
    visitor already in the room for a time near enough, while someone who came hours early
    (outside the window) blocks nobody. A booked visitor who comes after the walk-in still
    goes first if their time is before the walk-in's queue time: that is the booking's
    promise, and it delays the walk-in by EARLY_MARGIN at most. Being stored in queue_at, the
    rule needs nothing but waiting_order to call the queue.
    """
    latest = session.scalar(
        sa.select(sa.func.max(Ticket.queue_at)).where(
            Ticket.office_id == office.id,
            Ticket.service_day == service_day(office, now),
            Ticket.status == TicketStatus.WAITING,
            Ticket.appointment_id.is_not(None),
            Ticket.is_priority.is_(False),
            Ticket.arrived_at <= now,
            Ticket.queue_at > now,
            Ticket.queue_at <= now + EARLY_MARGIN,
        )
    )
    return max(now, latest) if latest is not None else now


class DeskBusy(InvalidState):
    """The desk has a visitor already: they must be finished first."""

    code = "desk_busy"


def can_go_to_desk(desk_id: Any) -> sa.ColumnElement[bool]:
    """SQL condition: the ticket may be called to the desk (a column or a parameter): it was
    transferred to that desk, or to none and is of a service the desk serves (a desk with no
    services listed serves them all)."""
    desk_services = sa.select(desk_service.c.service_type_id).where(
        desk_service.c.desk_id == desk_id
    )
    return sa.or_(
        Ticket.assigned_desk_id == desk_id,
        sa.and_(
            Ticket.assigned_desk_id.is_(None),
            sa.or_(
                Ticket.service_type_id.is_(None),
                ~desk_services.exists(),
                Ticket.service_type_id.in_(desk_services),
            ),
        ),
    )


def _desk_busy(label: str, desk: Desk) -> DeskBusy:
    return DeskBusy(
        _(
            "Ticket %(ticket)s is still at desk %(desk)s. Finish with them first: served, "
            "park or transfer.",
            ticket=label,
            desk=desk.name,
        )
    )


def visitor_at_desk(session: SessionLike, desk: Desk, now: datetime) -> str | None:
    """The label of the ticket called to the desk today, if any."""
    return session.scalar(
        sa.select(Ticket.label).where(
            Ticket.office_id == desk.office_id,
            Ticket.desk_id == desk.id,
            Ticket.service_day == service_day(desk.office, now),
            Ticket.status == TicketStatus.CALLED,
        )
    )


def _check_desk(session: SessionLike, office: Office, desk: Desk, now: datetime) -> None:
    """Refuse a call to a desk of another office, a closed desk or a desk with a visitor."""
    if desk.office_id != office.id or not desk.is_active:
        raise NotFound(_("There is no such desk."))
    busy = visitor_at_desk(session, desk, now)
    if busy is not None:
        raise _desk_busy(busy, desk)


def _call(
    session: SessionLike, office: Office, desk: Desk, ticket_id: int, actor: User, now: datetime
) -> Ticket | None:
    """Call the waiting ticket to the desk by a conditional update; None if it is no longer
    waiting. The database keeps one called ticket a desk (uq_ticket_called_at_desk): a
    second call racing to the same desk is refused as DeskBusy."""
    try:
        with session.begin_nested():
            called = session.execute(
                sa.update(Ticket)
                .where(Ticket.id == ticket_id, Ticket.status == TicketStatus.WAITING)
                .values(
                    status=TicketStatus.CALLED,
                    desk_id=desk.id,
                    clerk_id=actor.id,
                    call_count=1,
                    # Typed, so that the time is stored in UTC like every other (SQLite
                    # keeps text).
                    first_called_at=sa.func.coalesce(
                        Ticket.first_called_at, sa.literal(now, type_=UTCDateTime)
                    ),
                    last_called_at=now,
                )
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        raise _desk_busy(visitor_at_desk(session, desk, now) or "?", desk) from None
    if rows_changed(called) != 1:
        return None
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    session.refresh(ticket)
    _mirror_on_appointment(session, ticket, now)
    ticket_event(session, "ticket_called", ticket)
    record(
        session,
        actor,
        now,
        "call",
        ticket,
        office_id=office.id,
        after={"ticket": ticket.label, "desk": desk.name},
    )
    return ticket


def call_next(
    session: SessionLike, office: Office, desk: Desk, actor: User, now: datetime
) -> Ticket | None:
    """Call the next waiting ticket the desk may take, or None when nobody waits for it;
    DeskBusy while a visitor is at the desk.

    On PostgreSQL the candidate row is locked with SKIP LOCKED, so clerks pressing at the
    same instant take different tickets; everywhere, the conditional update on the status
    is what guarantees that a ticket is called once.
    """
    _check_desk(session, office, desk, now)
    for _attempt in range(20):
        query = (
            sa.select(Ticket.id)
            .where(
                Ticket.office_id == office.id,
                Ticket.service_day == service_day(office, now),
                Ticket.status == TicketStatus.WAITING,
                can_go_to_desk(desk.id),
            )
            .order_by((Ticket.assigned_desk_id == desk.id).desc(), *waiting_order())
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ticket_id = session.scalar(query)
        if ticket_id is None:
            return None
        ticket = _call(session, office, desk, ticket_id, actor, now)
        if ticket is not None:
            return ticket
    return None


def call_ticket(
    session: SessionLike, office: Office, desk: Desk, ticket: Ticket, actor: User, now: datetime
) -> Ticket:
    """Call one particular waiting ticket to the desk, out of the queue's order (the same
    one-visitor-a-desk rule as Call next)."""
    _check_desk(session, office, desk, now)
    allowed = session.scalar(
        sa.select(Ticket.id).where(
            Ticket.id == ticket.id,
            Ticket.office_id == office.id,
            Ticket.service_day == service_day(office, now),
            can_go_to_desk(desk.id),
        )
    )
    if allowed is None:
        raise InvalidState(
            _(
                "Ticket %(ticket)s can't be called to desk %(desk)s.",
                ticket=ticket.label,
                desk=desk.name,
            )
        )
    called = _call(session, office, desk, ticket.id, actor, now)
    if called is None:
        raise InvalidState(_("This ticket has changed meanwhile. Reload the page."))
    return called


def _change(
    session: SessionLike,
    ticket: Ticket,
    actor: User | None,
    now: datetime,
    action: str,
    expected: tuple[TicketStatus, ...],
    *,
    where: list[sa.ColumnElement[bool]] | None = None,
    **values: object,
) -> Ticket:
    """Change a ticket by a conditional update on its expected status, keep its
    appointment in step, and audit the change."""
    before = {"status": ticket.status, "desk": ticket.desk.name if ticket.desk else None}
    changed = session.execute(
        sa.update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status.in_(expected), *(where or []))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) != 1:
        raise InvalidState(_("This ticket has changed meanwhile. Reload the page."))
    session.refresh(ticket)
    if "status" in values:
        _mirror_on_appointment(session, ticket, now)
    record(
        session,
        actor,
        now,
        action,
        ticket,
        office_id=ticket.office_id,
        before=before,
        after={"status": ticket.status, "desk": ticket.desk.name if ticket.desk else None},
    )
    return ticket


class Called(Protocol):
    """A called ticket as pages hold it: an ORM Ticket, or a row of its columns."""

    @property
    def call_count(self) -> int: ...


def can_recall(ticket: Called) -> bool:
    """Whether calling the ticket again is still a call (not the end: marking it missed)."""
    return ticket.call_count < MAX_CALLS


def recall(session: SessionLike, ticket: Ticket, actor: User, now: datetime) -> Ticket:
    """Call the same ticket again; after three unanswered calls it is marked missed.

    Both outcomes are conditional on the call count stored in the row, so two clerks
    pressing at once can't call a fourth time or miss a ticket that was called twice.
    """
    try:
        return _change(
            session,
            ticket,
            actor,
            now,
            "recall",
            (TicketStatus.CALLED,),
            where=[Ticket.call_count < MAX_CALLS],
            call_count=Ticket.call_count + 1,
            last_called_at=now,
        )
    except InvalidState:
        pass
    ticket = _change(
        session,
        ticket,
        actor,
        now,
        "missed",
        (TicketStatus.CALLED,),
        where=[Ticket.call_count >= MAX_CALLS],
        status=TicketStatus.MISSED,
        finished_at=now,
    )
    ticket_event(session, "ticket_missed", ticket)
    return ticket


def park(session: SessionLike, ticket: Ticket, actor: User, now: datetime) -> Ticket:
    """Set a called visitor aside (for example, to fetch a document) without losing the place."""
    return _change(
        session, ticket, actor, now, "park", (TicketStatus.CALLED,), status=TicketStatus.PARKED
    )


def resume(session: SessionLike, ticket: Ticket, actor: User, now: datetime) -> Ticket:
    """Put a parked or missed ticket back in the queue at its place."""
    ticket = _change(
        session,
        ticket,
        actor,
        now,
        "resume",
        (TicketStatus.PARKED, TicketStatus.MISSED),
        status=TicketStatus.WAITING,
        desk_id=None,
        call_count=0,
        finished_at=None,
    )
    return ticket


def transfer(
    session: SessionLike,
    ticket: Ticket,
    actor: User,
    now: datetime,
    *,
    service: ServiceType | None = None,
    desk: Desk | None = None,
) -> Ticket:
    """Send a called visitor back to the queue, for another service or to a given desk,
    keeping the place."""
    if desk is not None and desk.office_id != ticket.office_id:
        raise NotFound(_("There is no such desk."))
    values: dict[str, Any] = {
        "status": TicketStatus.WAITING,
        "desk_id": None,
        "call_count": 0,
        "assigned_desk_id": desk.id if desk is not None else None,
    }
    if service is not None:
        values["service_type_id"] = service.id
    return _change(
        session,
        ticket,
        actor,
        now,
        "transfer",
        (TicketStatus.CALLED, TicketStatus.PARKED),
        **values,
    )


def serve(session: SessionLike, ticket: Ticket, actor: User, now: datetime) -> Ticket:
    """Mark the visitor as served."""
    ticket = _change(
        session,
        ticket,
        actor,
        now,
        "served",
        (TicketStatus.CALLED,),
        status=TicketStatus.SERVED,
        finished_at=now,
    )
    ticket_event(session, "ticket_served", ticket)
    return ticket


# What a booked visitor's appointment says while the ticket is in each status.
APPOINTMENT_STATUS_OF_TICKET: dict[str, Status] = {
    TicketStatus.WAITING: Status.CHECKED_IN,
    TicketStatus.CALLED: Status.CALLED,
    TicketStatus.PARKED: Status.CALLED,
    TicketStatus.SERVED: Status.SERVED,
    TicketStatus.MISSED: Status.NO_SHOW,
}


def _mirror_on_appointment(session: SessionLike, ticket: Ticket, now: datetime) -> None:
    """Keep a booked visitor's appointment in step with the ticket, through the
    appointment's own transitions; a visit that can't follow refuses the ticket's change."""
    new = APPOINTMENT_STATUS_OF_TICKET.get(ticket.status)
    if ticket.appointment_id is None or new is None:
        return
    current = session.scalar(
        sa.select(Appointment.status).where(Appointment.id == ticket.appointment_id)
    )
    if current == new and new == Status.CALLED:
        return  # parked and called again: the visit is at a desk all along
    if not transitions.change_status(session, [ticket.appointment_id], new, now):
        raise InvalidState(_("This ticket has changed meanwhile. Reload the page."))


def no_show_from(starts_at: datetime, grace: timedelta) -> datetime:
    """When a visit starting at `starts_at` may be marked a no-show: its time plus the grace."""
    return starts_at + grace


def can_mark_no_show_at(status: str, starts_at: datetime, now: datetime, grace: timedelta) -> bool:
    """Whether a visit may be marked a no-show now: confirmed (nobody checked in), and its
    time and the grace period have passed, so that a visitor on time is never refused."""
    return status == Status.CONFIRMED and now >= no_show_from(starts_at, grace)


def can_undo_no_show_on(status: str, has_ticket: bool, visit_day: date, today: date) -> bool:
    """Whether a no-show can be undone: marked before any check-in (a missed ticket goes
    back to the queue instead), on the visit's own day."""
    return status == Status.NO_SHOW and not has_ticket and visit_day == today


def _has_ticket(session: SessionLike, appointment: Appointment) -> bool:
    return (
        session.scalar(sa.select(Ticket.id).where(Ticket.appointment_id == appointment.id))
        is not None
    )


def mark_no_show(
    session: SessionLike,
    appointment: Appointment,
    actor: User | None,
    now: datetime,
    *,
    grace: timedelta,
) -> None:
    """Mark a confirmed appointment whose visitor never came, once its time and the grace
    period have passed."""
    if appointment.status == Status.CONFIRMED and not can_mark_no_show_at(
        appointment.status, appointment.starts_at, now, grace
    ):
        raise InvalidState(
            _(
                "The visit has not started long enough ago: it can be marked as a no-show "
                "from %(time)s.",
                time=local_time_text(
                    no_show_from(appointment.starts_at, grace),
                    appointment.office.zone,
                    str(get_locale() or "en"),
                ),
            )
        )
    if not transitions.change_one(
        session,
        appointment,
        Status.NO_SHOW,
        now,
        only_from=[Status.CONFIRMED],
        where=[Appointment.starts_at <= now - grace],
    ):
        raise InvalidState(_("Only a confirmed appointment can be marked as a no-show."))
    appointment_event(session, "visit_no_show", appointment)
    record(
        session,
        actor,
        now,
        "no_show",
        appointment,
        office_id=appointment.office_id,
        before={"status": "confirmed"},
        after={"status": "no_show"},
    )


def undo_no_show(
    session: SessionLike, appointment: Appointment, actor: User, now: datetime
) -> None:
    """Undo a no-show marked by mistake: the visit is confirmed again and can be checked in."""
    office = appointment.office
    if not can_undo_no_show_on(
        appointment.status,
        _has_ticket(session, appointment),
        appointment.starts_at.astimezone(office.zone).date(),
        service_day(office, now),
    ):
        raise InvalidState(_("This no-show can't be undone."))
    try:
        with session.begin_nested():
            restored = transitions.restore_no_show(session, appointment.id)
    except IntegrityError:
        raise InvalidState(
            _("This no-show can't be undone: the person has booked the service again.")
        ) from None
    if not restored:
        raise InvalidState(_("This appointment has changed meanwhile. Reload the page."))
    session.refresh(appointment)
    record(
        session,
        actor,
        now,
        "undo_no_show",
        appointment,
        office_id=appointment.office_id,
        before={"status": "no_show"},
        after={"status": "confirmed"},
    )


def close_day(session: SessionLike, office: Office, day: date, now: datetime) -> tuple[int, int]:
    """At the end of a day: booked visitors who never came become no-shows, and tickets
    still open are marked missed (their visits too), each through the same transitions as
    a clerk's. Returns (no-shows, tickets closed). Safe to run again."""
    start, end = local_day_bounds(day, office.zone)
    absent = session.scalars(
        sa.select(Appointment).where(
            Appointment.office_id == office.id,
            Appointment.status == Status.CONFIRMED,
            Appointment.starts_at >= start,
            Appointment.starts_at < min(end, now),
        )
    ).all()
    for appointment in absent:
        mark_no_show(session, appointment, None, now, grace=timedelta(0))
    still_open = session.scalars(
        sa.select(Ticket)
        .where(
            Ticket.office_id == office.id,
            Ticket.service_day == day,
            Ticket.status.in_(OPEN_TICKET_STATUSES),
        )
        .order_by(Ticket.id)
    ).all()
    closed = 0
    for ticket in still_open:
        try:
            _change(
                session,
                ticket,
                None,
                now,
                "close_day",
                OPEN_TICKET_STATUSES,
                status=TicketStatus.MISSED,
                finished_at=now,
            )
        except InvalidState:
            continue  # a clerk finished it at the same moment
        closed += 1
    # A visit left at the office without an open ticket (none should be) ends all the same.
    stranded = session.scalars(
        sa.select(Appointment.id).where(
            Appointment.office_id == office.id,
            Appointment.status.in_(transitions.IN_PROGRESS_STATUSES),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
    ).all()
    transitions.change_status(session, stranded, Status.NO_SHOW, now)
    return len(absent), closed


def _service_seconds(session: SessionLike, office: Office, today: date) -> dict[int | None, float]:
    """The median time from first call to served of each service, over the office's last
    SERVICE_DAYS days with served visitors (today included), from the newest SAMPLES visits
    of each; only services with at least MIN_SAMPLES of them."""
    days = (
        sa.select(Ticket.service_day)
        .where(
            Ticket.office_id == office.id,
            Ticket.service_day <= today,
            Ticket.status == TicketStatus.SERVED,
        )
        .distinct()
        .order_by(Ticket.service_day.desc())
        .limit(SERVICE_DAYS)
        .scalar_subquery()
    )
    newest = (
        sa.select(
            Ticket.service_type_id,
            Ticket.first_called_at,
            Ticket.finished_at,
            sa.func.row_number()
            .over(partition_by=Ticket.service_type_id, order_by=Ticket.finished_at.desc())
            .label("rank"),
        )
        .where(
            Ticket.office_id == office.id,
            Ticket.service_day.in_(days),
            Ticket.status == TicketStatus.SERVED,
            Ticket.first_called_at.is_not(None),
            Ticket.finished_at.is_not(None),
        )
        .subquery()
    )
    samples: dict[int | None, list[float]] = {}
    rows = session.execute(
        sa.select(newest.c.service_type_id, newest.c.first_called_at, newest.c.finished_at).where(
            newest.c.rank <= SAMPLES
        )
    ).all()
    for service_id, called, finished in rows:
        samples.setdefault(service_id, []).append((finished - called).total_seconds())
    return {
        service_id: statistics.median(seconds)
        for service_id, seconds in samples.items()
        if len(seconds) >= MIN_SAMPLES
    }


def working_desks_query(office: Office, now: datetime) -> sa.Select[tuple[int]]:
    """The ids of the office's open desks at work now: a clerk holds the desk (seen within
    WORKING_MINUTES), or it called someone within them."""
    since = now - timedelta(minutes=WORKING_MINUTES)
    claimed = (
        sa.select(DeskClaim.desk_id)
        .join(User, User.id == DeskClaim.clerk_id)
        .where(
            DeskClaim.office_id == office.id,
            DeskClaim.seen_at >= since,
            DeskClaim.session_version == User.session_version,  # not signed out since
        )
    )
    calling = sa.select(Ticket.desk_id).where(
        Ticket.office_id == office.id,
        Ticket.service_day == service_day(office, now),
        Ticket.desk_id.is_not(None),
        Ticket.last_called_at >= since,
    )
    return sa.select(Desk.id).where(
        Desk.office_id == office.id,
        Desk.is_active.is_(True),
        sa.or_(Desk.id.in_(claimed), Desk.id.in_(calling)),
    )


def estimated_wait_minutes(
    session: SessionLike, office: Office, now: datetime, *, service: ServiceType | None = None
) -> int | None:
    """How long an ordinary walk-in arriving now (of `service`, if given) would wait to be
    called.

    The tickets ahead of them are exactly those waiting_order puts first once the walk-in
    has its queue time (walk_in_queue_at): urgent cases and the earlier queue times, so a
    visitor checked in at 9:00 for 15:00 is not counted at 10:00. Each counts the median
    service time of its service over recent days (_service_seconds), or the service's
    configured duration while there are too few of them; the total is shared among the
    desks at work now (for a service: those that serve it, and only the tickets they may
    take count). None while no desk is at work.
    """
    desks = list(session.scalars(working_desks_query(office, now)))
    if service is not None and desks:
        serving = sa.select(desk_service.c.desk_id).where(
            desk_service.c.service_type_id == service.id
        )
        listing = sa.select(desk_service.c.desk_id)
        desks = list(
            session.scalars(
                sa.select(Desk.id).where(
                    Desk.id.in_(desks), sa.or_(Desk.id.in_(serving), Desk.id.not_in(listing))
                )
            )
        )
    if not desks:
        return None
    queue_at = walk_in_queue_at(session, office, now)
    ahead = [
        Ticket.office_id == office.id,
        Ticket.service_day == service_day(office, now),
        Ticket.status == TicketStatus.WAITING,
        _is_ahead_of_walk_in(queue_at, now),
    ]
    if service is not None:
        ahead.append(
            sa.exists(sa.select(Desk.id).where(Desk.id.in_(desks), can_go_to_desk(Desk.id)))
        )
    counts = session.execute(
        sa.select(Ticket.service_type_id, ServiceType.duration_minutes, sa.func.count())
        .outerjoin(ServiceType, ServiceType.id == Ticket.service_type_id)
        .where(*ahead)
        .group_by(Ticket.service_type_id, ServiceType.duration_minutes)
    ).all()
    if not counts:
        return 0
    medians = _service_seconds(session, office, service_day(office, now))
    total = sum(
        count * medians.get(service_id, (minutes or office.slot_minutes) * 60)
        for service_id, minutes, count in counts
    )
    return math.ceil(total / len(desks) / 60)
