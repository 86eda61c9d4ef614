"""Booking drafts: what a citizen has typed on the details page, kept for the review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime


class BookingDraft(Base):
    """The answers of one browser's details page, so that every page of the journey is a
    plain address: the review, its Change links and the browser's Back button all find
    what was typed without sending it again.

    Only a hash of the browser's token is stored; the answers are personal data, so each
    draft is deleted when its booking is confirmed and at the latest at `expires_at`.
    """

    __tablename__ = "booking_draft"
    __table_args__ = (sa.CheckConstraint("expires_at > updated_at", name="expires_after_update"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
