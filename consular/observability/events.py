"""Domain events (a hold placed, a booking confirmed, a ticket called …), counted in the
metrics and written to the log only once the transaction that made them commits.

A service records an event on its session in one line (`record_event`); nothing is reported
then, because the view may still roll the change back. The session's `after_commit` hook
reports what was recorded; a rollback drops it (a savepoint's rollback only what was recorded
inside it). An event carries names and ids only: never a person's name, IIN, passport number,
e-mail address or phone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from consular.database import SessionLike

if TYPE_CHECKING:
    from consular.models import Appointment, Ticket

PENDING_KEY = "consular.domain_events"
logger = logging.getLogger("consular.events")


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened to a booking or a ticket, as the operator may see it."""

    name: str
    office: str
    ids: dict[str, int] = field(default_factory=dict)


# Called with each committed event (the metrics' counters register theirs here).
reporters: list[Callable[[DomainEvent], None]] = []


def record_event(session: SessionLike, name: str, office: str, **ids: int) -> None:
    """Record an event to report when the session's transaction commits."""
    current = session() if isinstance(session, scoped_session) else session
    pending: list[tuple[DomainEvent, Any]] = current.info.setdefault(PENDING_KEY, [])
    pending.append((DomainEvent(name, office, ids), current.get_nested_transaction()))


def _report(event: DomainEvent) -> None:
    logger.info(event.name, extra={"event": event.name, "office": event.office, **event.ids})
    for reporter in reporters:
        reporter(event)


@sa.event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Also called when a savepoint is released: its events wait for the real commit.
    if session.in_nested_transaction():
        return
    for event, _savepoint in session.info.pop(PENDING_KEY, []):
        try:
            _report(event)
        except Exception:  # the change is committed: a failing report must not hide that
            logger.exception("reporting domain event %s failed", event.name)


@sa.event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return
    if previous.nested:
        pending[:] = [entry for entry in pending if entry[1] is not previous]
    else:
        session.info.pop(PENDING_KEY, None)


@sa.event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # A session closed without a commit: what it recorded never happened.
    if transaction.parent is None and not transaction.nested:
        session.info.pop(PENDING_KEY, None)


def appointment_event(session: SessionLike, name: str, appointment: Appointment) -> None:
    """Record an event of an appointment: its office and its id."""
    record_event(session, name, appointment.office.code, appointment_id=appointment.id)


def ticket_event(session: SessionLike, name: str, ticket: Ticket) -> None:
    """Record an event of a ticket: its office and its id."""
    record_event(session, name, ticket.office.code, ticket_id=ticket.id)
