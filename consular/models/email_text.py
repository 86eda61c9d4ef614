"""Email texts that administrators edit, per kind of email and language."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime, now_utc


class EmailText(Base):
    """An administrator's wording of one email in one language; the built-in text otherwise.

    `subject` and `body` are placeholder templates (e.g. ``{{ reference }}``) rendered in a
    sandbox that allows nothing but placeholders; the layout, the visit's details, the
    documents list, the calendar file and the QR code always come from the application.
    """

    __tablename__ = "email_text"
    __table_args__ = (sa.UniqueConstraint("kind", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    language: Mapped[str] = mapped_column(sa.String(8))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
