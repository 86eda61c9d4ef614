"""The waiting list: citizens who found nothing free wait for a seat of an office's services
within a range of days, and a seat that frees is offered to them before it goes back on sale.

An entry waits once its e-mailed code is entered. When a matching seat frees (a cancellation,
a declined or lapsed offer, a seat added to the schedule), the waitlist offers it: the seat is
held for the entrant as an appointment until a claim deadline, and the e-mail's link lets them
claim or decline it. The seat of an offer never goes back on sale by the clock (its seat has
no hold end); the waitlist passes it to the next entrant or, when nobody waits for it, returns
it to sale at a random moment, as a cancelled seat returns.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.models.base import Base, UTCDateTime, now_utc, status_enum

if TYPE_CHECKING:
    from consular.models.appointment import Appointment
    from consular.models.office import Office
    from consular.models.service import ServiceType


class WaitlistMode(StrEnum):
    """How a service's waiting list chooses whom a freed seat is offered to."""

    OFF = "off"  # no waiting list: a cancelled seat returns to sale after its delay
    FIFO = "fifo"  # the longest waiting first
    RANDOM = "random"  # a random one of those who joined before the seat freed


class WaitStatus(StrEnum):
    UNVERIFIED = "unverified"  # the e-mailed code has not been entered yet
    WAITING = "waiting"
    OFFERED = "offered"  # a seat is held for the entrant until the claim deadline
    BOOKED = "booked"  # the entrant claimed an offer: the appointment is theirs
    LEFT = "left"  # the entrant left the list, or declined an offer
    LAPSED = "lapsed"  # an offer was not claimed in time
    ENDED = "ended"  # the last day waited for has passed


# Entries that take a place on the list: one per IIN, e-mail address and phone per office.
PLACE_STATUSES: tuple[WaitStatus, ...] = (WaitStatus.WAITING, WaitStatus.OFFERED)


waitlist_entry_service = sa.Table(
    "waitlist_entry_service",
    Base.metadata,
    sa.Column("entry_id", sa.ForeignKey("waitlist_entry.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_type_id", sa.ForeignKey("service_type.id"), primary_key=True),
)


class WaitlistEntry(Base):
    """One citizen waiting for a seat of an office's services between two local days."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        *(
            sa.Index(
                f"uq_waitlist_entry_place_{column}",
                "office_id",
                column,
                unique=True,
                sqlite_where=sa.text("takes_place"),
                postgresql_where=sa.text("takes_place"),
            )
            for column in ("iin", "email_key", "phone")
        ),
        sa.CheckConstraint("first_day <= last_day", name="days_in_order"),
        sa.CheckConstraint("code_attempts >= 0", name="code_attempts_nonnegative"),
        sa.Index("ix_waitlist_entry_office_status", "office_id", "status", "joined_at"),
        sa.Index("ix_waitlist_entry_office_domain", "office_id", "email_domain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id"))
    reference: Mapped[str] = mapped_column(sa.String(16), unique=True)
    status: Mapped[WaitStatus] = mapped_column(
        status_enum(WaitStatus), default=WaitStatus.UNVERIFIED
    )
    # True while WAITING or OFFERED: what the one-place-per-person indexes look at.
    takes_place: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    # The office's local days a seat may be on, both included.
    first_day: Mapped[date] = mapped_column(sa.Date)
    last_day: Mapped[date] = mapped_column(sa.Date)

    given_name: Mapped[str] = mapped_column(sa.String(100))
    family_name: Mapped[str] = mapped_column(sa.String(100))
    iin: Mapped[str] = mapped_column(sa.String(12), index=True)
    passport_number: Mapped[str] = mapped_column(sa.String(20))
    email: Mapped[str] = mapped_column(sa.String(254))
    email_key: Mapped[str] = mapped_column(sa.String(254))
    # Its registrable domain, for the limit of places per private domain (fair_access.py).
    email_domain: Mapped[str] = mapped_column(sa.String(254), default="", server_default="")
    phone: Mapped[str] = mapped_column(sa.String(20))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    code_hash: Mapped[str] = mapped_column(sa.String(64))
    code_attempts: Mapped[int] = mapped_column(default=0)
    code_sends: Mapped[int] = mapped_column(default=1)
    code_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # When the code was entered: the order of a first-in, first-out list.
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The current or last offer: its appointment and when it must be claimed by.
    appointment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("appointment.id", ondelete="SET NULL"), unique=True
    )
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offers: Mapped[int] = mapped_column(default=0)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    office: Mapped[Office] = relationship()
    services: Mapped[list[ServiceType]] = relationship(
        secondary=waitlist_entry_service, order_by="ServiceType.sort_order"
    )
    appointment: Mapped[Appointment | None] = relationship()
    tokens: Mapped[list[WaitlistToken]] = relationship(
        back_populates="entry", cascade="all, delete-orphan"
    )

    def is_code_expired(self, now: datetime) -> bool:
        return self.status == WaitStatus.UNVERIFIED and self.code_expires_at <= now

    def __repr__(self) -> str:
        return f"<WaitlistEntry {self.reference} {self.status}>"


class WaitlistToken(Base):
    """A random secret in a link that opens one waiting-list entry; only a keyed hash is kept."""

    __tablename__ = "waitlist_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("waitlist_entry.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    entry: Mapped[WaitlistEntry] = relationship(back_populates="tokens")
