"""The audit log: who changed what, when, at which office, with the values before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime, now_utc


class AuditEntry(Base):
    """One change made by a member of staff (or by a command, with no user)."""

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_office_at", "office_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    office_id: Mapped[int | None] = mapped_column(sa.ForeignKey("office.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(64))
    entity: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
