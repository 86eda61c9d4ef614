"""Where a hold came from: what the review of suspicious bookings clusters bookings by.

One row per appointment, written with its hold. It holds no more than the review needs: the
client's network (its /24 or /64, not its address), the email's domain (not the address),
keyed hashes of the user agent and of the device fingerprint the proof-of-work widget
reported, and how many seconds the journey took. It goes with the appointment's personal
data (`services/retention.py`).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime


class AppointmentOrigin(Base):
    """The client, email domain, device and speed of one appointment's hold."""

    __tablename__ = "appointment_origin"
    __table_args__ = (
        sa.CheckConstraint("seconds >= 0", name="seconds_nonnegative"),
        # The review reads the holds of a period, then groups them by each signal.
        sa.Index("ix_appointment_origin_recorded_at", "recorded_at"),
    )

    appointment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("appointment.id", ondelete="CASCADE"), primary_key=True
    )
    # When the hold was placed (the appointment's created_at).
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The client's network as CIDR text: the /24 of IPv4, the /64 of IPv6 (consular.clients).
    network: Mapped[str] = mapped_column(sa.String(64))
    # The email's domain as typed (in lower case), and the registrable domain it belongs
    # to, which bookings are clustered by (a catch-all may hand out sub-domains too).
    email_domain: Mapped[str] = mapped_column(sa.String(254))
    email_base_domain: Mapped[str] = mapped_column(sa.String(254))
    # Whether the domain was a public provider (PUBLIC_EMAIL_DOMAINS) when the hold was placed.
    is_public_domain: Mapped[bool]
    # A keyed hash of the device fingerprint the proof-of-work widget reported, if any.
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    # Seconds from the first page of the journey (or the API's challenge) to the hold.
    seconds: Mapped[int | None]
    # A keyed hash of the User-Agent header.
    user_agent_hash: Mapped[str] = mapped_column(sa.String(64))
    # The audit entry of the review's bulk cancellation that cancelled the appointment, so
    # that the retention purge can take the reference out of it.
    review_audit_entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("audit_entry.id", ondelete="SET NULL"), index=True
    )

    def __repr__(self) -> str:
        return f"<AppointmentOrigin {self.appointment_id} {self.network}>"
