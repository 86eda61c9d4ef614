"""The waiting-room kiosk: which devices may issue tickets, and what a visitor is told there.

A manager of the office turns a tablet into the office's kiosk: the device then carries a
signed pass naming the office and the office's kiosk generation. Raising the generation
stops every kiosk of the office at once, since the passes made before no longer match.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer

from consular.database import SessionLike
from consular.models import (
    Appointment,
    Office,
    Role,
    ServiceType,
    Status,
    Ticket,
    TicketStatus,
    User,
)
from consular.services import booking, queue
from consular.services.audit import record
from consular.services.errors import InvalidState, NotFound
from consular.services.timefmt import day_text, local_time_text

SALT = "waiting-room-kiosk"


def can_run_kiosk(user: User, office: Office) -> bool:
    """Whether the account may start and stop the office's kiosks: its managers, and
    administrators."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.MANAGER and user.can_access_office(office.id)


@dataclass(frozen=True)
class KioskPass:
    """What a kiosk's cookie says: the office, its kiosk generation, and the device."""

    office_id: int
    generation: int
    device: str


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def issue_pass(secret: str, office: Office) -> tuple[str, KioskPass]:
    """A new signed pass for one device of the office, and what it says."""
    kiosk = KioskPass(office.id, office.kiosk_generation, secrets.token_urlsafe(12))
    token = _serializer(secret).dumps([kiosk.office_id, kiosk.generation, kiosk.device])
    return token, kiosk


def read_pass(secret: str, token: str | None) -> KioskPass | None:
    """The pass a cookie carries, if it is signed by this app; else None."""
    if not token or len(token) > 500:
        return None
    try:
        office_id, generation, device = _serializer(secret).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not (isinstance(office_id, int) and isinstance(generation, int)):
        return None
    return KioskPass(office_id, generation, str(device))


def is_valid_pass(kiosk: KioskPass | None, office: Office) -> bool:
    """Whether the pass opens this office's kiosk now (not stopped since it was made)."""
    return (
        kiosk is not None
        and kiosk.office_id == office.id
        and kiosk.generation == office.kiosk_generation
    )


def start_kiosk(
    session: SessionLike, office: Office, actor: User, now: datetime, secret: str
) -> str:
    """Make a pass for a device of the office (the manager's tablet) and audit it."""
    if not can_run_kiosk(actor, office):
        raise NotFound(_("Only a manager of this office can start a kiosk."))
    token, kiosk = issue_pass(secret, office)
    record(
        session,
        actor,
        now,
        "start_kiosk",
        office,
        office_id=office.id,
        after={"generation": kiosk.generation, "device": kiosk.device},
    )
    return token


def stop_kiosks(session: SessionLike, office: Office, actor: User, now: datetime) -> None:
    """Stop every kiosk of the office by raising its generation, and audit it."""
    if not can_run_kiosk(actor, office):
        raise NotFound(_("Only a manager of this office can stop its kiosks."))
    before = office.kiosk_generation
    session.execute(
        sa.update(Office)
        .where(Office.id == office.id)
        .values(kiosk_generation=Office.kiosk_generation + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(office)
    record(
        session,
        actor,
        now,
        "stop_kiosks",
        office,
        office_id=office.id,
        before={"generation": before},
        after={"generation": office.kiosk_generation},
    )


def walk_in_services_query(office: Office) -> sa.Select[tuple[ServiceType]]:
    """The services a visitor may take a walk-in ticket for: those the counter's walk-in
    form offers (the office's active services, staff-only ones included, since a walk-in is
    served at the office)."""
    return (
        sa.select(ServiceType)
        .where(ServiceType.is_active.is_(True), ServiceType.offices.any(Office.id == office.id))
        .order_by(ServiceType.sort_order, ServiceType.id)
    )


class KioskRefusal(InvalidState):
    """The kiosk can't check this visitor in; the message says why and what to do."""

    code = "kiosk_refused"

    def __init__(self, message: str, ticket: Ticket | None = None) -> None:
        super().__init__(message, field="reference")
        self.ticket = ticket


def _refusal(appointment: Appointment, office: Office, now: datetime) -> KioskRefusal | None:
    """Why the kiosk can't check this appointment in, as a sentence for the visitor."""
    if appointment.office_id != office.id:
        return KioskRefusal(
            _(
                "This appointment is at another office: %(office)s. Please ask at the counter.",
                office=appointment.office.display_name(_locale()),
            )
        )
    status = appointment.status
    if status == Status.CANCELLED:
        return KioskRefusal(_("This appointment was cancelled. Please ask at the counter."))
    if status in (Status.HELD, Status.EXPIRED):
        return KioskRefusal(
            _(
                "This booking was not confirmed with the e-mail code, so it can't be "
                "checked in. Please ask at the counter."
            )
        )
    if status == Status.NO_SHOW:
        return KioskRefusal(_("This appointment was marked as missed. Please ask at the counter."))
    visit_day = appointment.starts_at.astimezone(office.zone).date()
    today = queue.service_day(office, now)
    if visit_day != today:
        day, time = visit_time_texts(appointment, office)
        if visit_day > today:
            return KioskRefusal(
                _(
                    "Your appointment is on %(day)s at %(time)s, not today. Please come back "
                    "then, or ask at the counter.",
                    day=day,
                    time=time,
                )
            )
        return KioskRefusal(
            _(
                "Your appointment was on %(day)s at %(time)s. Please book a new one, or ask "
                "at the counter.",
                day=day,
                time=time,
            )
        )
    # A visit under way or served today is answered with its ticket (check_in_by_reference).
    return None


def visit_time_texts(appointment: Appointment, office: Office) -> tuple[str, str]:
    """The appointment's day and time at the office, written in the visitor's language."""
    locale = _locale()
    return (
        day_text(appointment.starts_at.astimezone(office.zone).date(), locale, "long"),
        local_time_text(appointment.starts_at, office.zone, locale),
    )


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "en")


def _ticket_of(session: SessionLike, appointment: Appointment) -> Ticket | None:
    return session.scalar(sa.select(Ticket).where(Ticket.appointment_id == appointment.id))


def check_in_by_reference(
    session: SessionLike, office: Office, reference: str, now: datetime
) -> Ticket:
    """Check a visitor in at the kiosk by the reference they typed or scanned; a refusal
    says why and what to do, never who the booking is for."""
    appointment = booking.find_by_reference(session, reference)
    if appointment is None:
        raise KioskRefusal(
            _(
                "We can't find a booking with this reference. Check it and try again, or "
                "ask at the counter."
            )
        )
    refusal = _refusal(appointment, office, now)
    if refusal is not None:
        raise refusal
    if appointment.status != Status.CONFIRMED:
        ticket = _ticket_of(session, appointment)
        raise KioskRefusal(
            _(
                "You have already checked in: your ticket is %(ticket)s.",
                ticket=ticket.label if ticket else "?",
            )
            if ticket is not None
            else _("You have already checked in. Please ask at the counter."),
            ticket,
        )
    try:
        return queue.check_in(session, appointment, None, now)
    except InvalidState:
        raise KioskRefusal(
            _("This appointment can't be checked in here. Please ask at the counter.")
        ) from None


def walk_in_choices(
    session: SessionLike, office: Office, now: datetime
) -> list[tuple[ServiceType, bool]]:
    """The walk-in services, each with whether what is left of today's walk-in time is
    enough for it (queue.walk_in_minutes_needed, as the allowance is counted)."""
    left = queue.walk_in_minutes_left(session, office, now)
    return [
        (service, queue.walk_in_minutes_needed(office, service.duration_minutes) <= left)
        for service in session.scalars(walk_in_services_query(office))
    ]


def issue_walk_in(session: SessionLike, office: Office, service_id: int, now: datetime) -> Ticket:
    """A walk-in ticket taken at the kiosk, within the day's walk-in allowance (else
    queue.WalkInsUsedUp)."""
    service = session.scalar(walk_in_services_query(office).where(ServiceType.id == service_id))
    if service is None:
        raise NotFound(_("Choose one of the services shown."), field="service")
    return queue.issue_walk_in(session, office, service, None, now, urgent=False)


def people_before(session: SessionLike, ticket: Ticket) -> int:
    """How many waiting tickets of the day come before this one, in the queue's order
    (queue.waiting_order: priority first, then the time in the queue, arrival, id)."""
    queue_at = sa.literal(ticket.queue_at, type_=Ticket.queue_at.type)
    arrived_at = sa.literal(ticket.arrived_at, type_=Ticket.arrived_at.type)
    later_in_order = sa.or_(
        Ticket.queue_at < queue_at,
        sa.and_(
            Ticket.queue_at == queue_at,
            sa.or_(
                Ticket.arrived_at < arrived_at,
                sa.and_(Ticket.arrived_at == arrived_at, Ticket.id < ticket.id),
            ),
        ),
    )
    # A priority ticket goes before every ordinary one; among equals, the order above.
    ahead: sa.ColumnElement[bool] = sa.and_(
        Ticket.is_priority == ticket.is_priority, later_in_order
    )
    if not ticket.is_priority:
        ahead = sa.or_(Ticket.is_priority.is_(True), ahead)
    count = session.scalar(
        sa.select(sa.func.count())
        .select_from(Ticket)
        .where(
            Ticket.office_id == ticket.office_id,
            Ticket.service_day == ticket.service_day,
            Ticket.status == TicketStatus.WAITING,
            Ticket.id != ticket.id,
            ahead,
        )
    )
    return int(count or 0)
