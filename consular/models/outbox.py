"""The durable outbox: every email is a row written in the transaction that causes it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime, now_utc, status_enum


class MailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """An email waiting to be delivered, being delivered, delivered or given up on."""

    __tablename__ = "outbox_message"
    __table_args__ = (sa.Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The Message-ID header, fixed at creation so that a retried delivery is recognisable.
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(500))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    # [{"filename", "content_type", "content"}] with text content (calendar files).
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # The recipient's language (the Content-Language header) and the name the From header
    # shows in it, the office's, beside the configured sender address; None: the sender as set.
    language: Mapped[str | None] = mapped_column(sa.String(8))
    sender_name: Mapped[str | None] = mapped_column(sa.String(255))
    appointment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("appointment.id", ondelete="SET NULL"), index=True
    )
    # The lottery entry the message is about, so the retention purge can erase it with it.
    lottery_entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("lottery_entry.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[MailStatus] = mapped_column(status_enum(MailStatus), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"
