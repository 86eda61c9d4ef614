"""The retention purge: erase the personal data of past visits, keep anonymous records.

A purged appointment keeps its office, services, times, statuses, transition times,
language and sequence, so reports count the same afterwards. What is erased: the
applicant's names, IIN, passport number, contacts, answers and cancellation reason; the
manage links; the emails about the visit (their status and times stay); the note of its
ticket; the values that audit entries about the visit or its ticket recorded; and where its
hold came from (its origin, and its reference in the review's bulk cancellation entries).
The entries of lottery releases whose days are that old lose the same details and their e-mails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from consular.database import SessionLike, rows_changed
from consular.models import (
    Appointment,
    AppointmentService,
    AuditEntry,
    Base,
    ManageToken,
    OutboxMessage,
    Status,
    Ticket,
)
from consular.services import suspicion, waitlist
from consular.services.drafts import purge_expired_drafts
from consular.services.lottery import purge_entries

BATCH_SIZE = 500
# What personal text columns hold once erased: no value at all, and never a valid one.
ERASED = ""
# Visits in these states are over. A hold is over once its time has run out, whatever
# its status says (nothing marks an abandoned hold expired unless it is in the way).
FINISHED_STATUSES: tuple[Status, ...] = (
    Status.SERVED,
    Status.NO_SHOW,
    Status.CANCELLED,
    Status.EXPIRED,
)


@dataclass
class PurgeReport:
    """What one purge erased."""

    cutoff: datetime
    appointments: int = 0
    manage_tokens: int = 0
    outbox_messages: int = 0
    tickets: int = 0
    audit_entries: int = 0
    origins: int = 0
    lottery_entries: int = 0
    waitlist_entries: int = 0
    booking_drafts: int = 0


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """The moment before which a visit must have ended to be purged."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    return now - timedelta(days=retention_days)


def purgeable_condition(now: datetime, cutoff: datetime) -> sa.ColumnElement[bool]:
    """SQL condition: the appointment is over, ended before `cutoff` and is not purged yet.

    Appointments still in progress (a live hold, confirmed, checked in, called) never
    match, however old they are.
    """
    return sa.and_(
        Appointment.personal_data_purged_at.is_(None),
        Appointment.ends_at < cutoff,
        sa.or_(
            Appointment.status.in_(FINISHED_STATUSES),
            sa.and_(Appointment.status == Status.HELD, Appointment.hold_expires_at <= now),
        ),
    )


def line_placeholder(line_id: int) -> str:
    """The IIN a purged service line keeps: unique to the line and never a real IIN.

    Unique per line, so that even a line still marked active can't collide with another
    in the partial unique index on (iin, service_type_id); 12 characters, as the column.
    """
    return f"P{line_id:011d}"


def purge_personal_data(
    session: SessionLike, now: datetime, retention_days: int, *, batch_size: int = BATCH_SIZE
) -> PurgeReport:
    """Erase the personal data of visits that ended more than `retention_days` ago.

    Works in batches of set-based updates and skips appointments purged before, so it is
    safe to run daily. The caller commits.
    """
    cutoff = retention_cutoff(now, retention_days)
    report = PurgeReport(cutoff=cutoff)
    condition = purgeable_condition(now, cutoff)
    last_id = 0
    while True:
        candidates = session.scalars(
            sa.select(Appointment.id)
            .where(condition, Appointment.id > last_id)
            .order_by(Appointment.id)
            .limit(batch_size)
        ).all()
        if not candidates:
            break
        last_id = candidates[-1]
        # The condition again, so a row that changed (or was purged by a concurrent run)
        # since the select is left alone; RETURNING says which rows this run erased.
        purged = session.scalars(
            sa.update(Appointment)
            .where(Appointment.id.in_(candidates), condition)
            .values(
                given_name=ERASED,
                family_name=ERASED,
                iin=ERASED,
                passport_number=ERASED,
                email=ERASED,
                email_key=None,
                email_domain=None,
                phone=ERASED,
                details={},
                cancel_reason=None,
                personal_data_purged_at=now,
            )
            .returning(Appointment.id)
            .execution_options(synchronize_session=False)
        ).all()
        if purged:
            _erase_related(session, list(purged), report)
            report.appointments += len(purged)
            _expire_loaded(session, Appointment, purged)
    report.lottery_entries = purge_entries(session, now, cutoff)
    report.waitlist_entries = waitlist.purge_entries(session, now, cutoff)
    report.booking_drafts = purge_expired_drafts(session, now)
    return report


def _erase_related(session: SessionLike, appointment_ids: list[int], report: PurgeReport) -> None:
    line_ids = session.scalars(
        sa.select(AppointmentService.id).where(
            AppointmentService.appointment_id.in_(appointment_ids)
        )
    ).all()
    if line_ids:
        session.execute(
            sa.update(AppointmentService),
            [{"id": line_id, "iin": line_placeholder(line_id)} for line_id in line_ids],
        )
        _expire_loaded(session, AppointmentService, line_ids)

    deleted = session.execute(
        sa.delete(ManageToken)
        .where(ManageToken.appointment_id.in_(appointment_ids))
        .execution_options(synchronize_session="fetch")
    )
    report.manage_tokens += rows_changed(deleted)

    message_ids = session.scalars(
        sa.update(OutboxMessage)
        .where(OutboxMessage.appointment_id.in_(appointment_ids))
        .values(
            recipient=ERASED,
            subject=ERASED,
            text_body=ERASED,
            html_body=None,
            attachments=[],
            # A refused delivery's error names the recipient's address.
            last_error=None,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    report.outbox_messages += len(message_ids)
    _expire_loaded(session, OutboxMessage, message_ids)

    ticket_ids = session.scalars(
        sa.update(Ticket)
        .where(Ticket.appointment_id.in_(appointment_ids))
        .values(note=ERASED)
        .returning(Ticket.id)
        .execution_options(synchronize_session=False)
    ).all()
    report.tickets += len(ticket_ids)
    _expire_loaded(session, Ticket, ticket_ids)

    # Entries about the visit or its ticket may name it (a check-in records the reference).
    about = [
        sa.and_(
            AuditEntry.entity == "appointment",
            AuditEntry.entity_id.in_([str(i) for i in appointment_ids]),
        )
    ]
    if ticket_ids:
        about.append(
            sa.and_(
                AuditEntry.entity == "ticket",
                AuditEntry.entity_id.in_([str(i) for i in ticket_ids]),
            )
        )
    entry_ids = session.scalars(
        sa.update(AuditEntry)
        .where(sa.or_(*about))
        .values(before=sa.null(), after=sa.null())
        .returning(AuditEntry.id)
        .execution_options(synchronize_session=False)
    ).all()
    report.audit_entries += len(entry_ids)
    _expire_loaded(session, AuditEntry, entry_ids)

    report.origins += suspicion.erase_origins(session, appointment_ids)


def _expire_loaded(session: SessionLike, model: type[Base], ids: Sequence[int]) -> None:
    """Make objects this session has loaded read the erased values on their next use."""
    wanted = set(ids)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, model) and getattr(loaded, "id", None) in wanted:
            session.expire(loaded)
