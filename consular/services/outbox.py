"""What the administration sees of the e-mail outbox, and sending failed messages again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from consular.database import SessionLike, rows_changed
from consular.models import MailStatus, OutboxMessage, User
from consular.services import audit
from consular.services.retention import ERASED

FAILED_SHOWN = 200


@dataclass(frozen=True)
class Email:
    """What the audit log names: one e-mail (by its row id), or every failed one (None)."""

    id: int | None


@dataclass(frozen=True)
class OutboxSummary:
    """The outbox at a glance: how much waits, how long the oldest due message has waited."""

    pending: int
    sending: int
    failed: int
    sent_last_day: int
    oldest_due_at: datetime | None


def outbox_summary(session: SessionLike, now: datetime) -> OutboxSummary:
    """Count the outbox's messages by status (sent: in the last 24 hours) in one query."""
    status = OutboxMessage.status

    def count(condition: sa.ColumnElement[bool]) -> sa.Label[int]:
        return sa.func.count().filter(condition).label(None)

    row = session.execute(
        sa.select(
            count(status == MailStatus.PENDING),
            count(status == MailStatus.SENDING),
            count(status == MailStatus.FAILED),
            count(sa.and_(status == MailStatus.SENT, OutboxMessage.sent_at > now - timedelta(1))),
            sa.func.min(OutboxMessage.next_attempt_at).filter(
                status == MailStatus.PENDING, OutboxMessage.next_attempt_at <= now
            ),
        ).where(sa.or_(status != MailStatus.SENT, OutboxMessage.sent_at > now - timedelta(days=1)))
    ).one()
    return OutboxSummary(*row)


def failed_messages(session: SessionLike, limit: int = FAILED_SHOWN) -> list[OutboxMessage]:
    """The failed messages, newest first."""
    return list(
        session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.status == MailStatus.FAILED)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def _retryable() -> sa.ColumnElement[bool]:
    # A message whose address the retention purge erased can't be sent to anyone.
    return sa.and_(OutboxMessage.status == MailStatus.FAILED, OutboxMessage.recipient != ERASED)


def send_failed_again(
    session: SessionLike, actor: User, now: datetime, message_id: int | None = None
) -> int:
    """Put failed messages (one, or all) back in the queue with a fresh count of attempts;
    return how many. Only a message still failed moves, so two administrators pressing at
    once queue it once; the Message-ID stays, so a copy that did arrive shows once."""
    condition = _retryable()
    if message_id is not None:
        condition = sa.and_(condition, OutboxMessage.id == message_id)
    moved = rows_changed(
        session.execute(
            sa.update(OutboxMessage)
            .where(condition)
            .values(
                status=MailStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                claim_token=None,
            )
            .execution_options(synchronize_session=False)
        )
    )
    if moved:
        audit.record(
            session,
            actor,
            now,
            "send_mail_again",
            Email(message_id),
            office_id=None,
            after={"messages": moved},
        )
    session.flush()
    return moved
