"""Appointments: a citizen's visit to an office for one or more services."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.models.base import Base, UTCDateTime, now_utc, status_enum

if TYPE_CHECKING:
    from consular.models.office import Office
    from consular.models.schedule import Slot
    from consular.models.service import ServiceType


class Status(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    CALLED = "called"
    SERVED = "served"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


ACTIVE_STATUSES: tuple[Status, ...] = (Status.HELD, Status.CONFIRMED)

# The condition of the partial indexes of live visits, as SQL text: a query repeats it word
# for word (`is_live_visit`) so that both databases use those indexes.
LIVE_VISIT = "status IN ('held', 'confirmed')"


def is_live_visit() -> sa.ColumnElement[bool]:
    """SQL condition: the appointment is held or confirmed, written as the partial indexes
    of live visits are, so that the quotas read only live visits whatever the history."""
    return sa.literal_column(f"appointment.{LIVE_VISIT}", sa.Boolean)


def _live_index(name: str, column: str) -> sa.Index:
    return sa.Index(
        name,
        column,
        sqlite_where=sa.text(LIVE_VISIT),
        postgresql_where=sa.text(LIVE_VISIT),
    )


class Appointment(Base):
    """A booked (or held) visit with the applicant's details and the time of each transition."""

    __tablename__ = "appointment"
    __table_args__ = (
        sa.CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        sa.CheckConstraint("code_attempts >= 0", name="code_attempts_nonnegative"),
        sa.Index("ix_appointment_office_starts_at", "office_id", "starts_at"),
        sa.Index("ix_appointment_status_hold_expires_at", "status", "hold_expires_at"),
        sa.Index("ix_appointment_office_created_at", "office_id", "created_at"),
        _live_index("ix_appointment_live_iin", "iin"),
        _live_index("ix_appointment_live_email_key", "email_key"),
        _live_index("ix_appointment_live_email_domain", "email_domain"),
        _live_index("ix_appointment_live_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(16), unique=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[Status] = mapped_column(status_enum(Status), default=Status.HELD)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")

    given_name: Mapped[str] = mapped_column(sa.String(100))
    family_name: Mapped[str] = mapped_column(sa.String(100))
    iin: Mapped[str] = mapped_column(sa.String(12), index=True)
    passport_number: Mapped[str] = mapped_column(sa.String(20))
    email: Mapped[str] = mapped_column(sa.String(254))
    # The mailbox the address reaches and its domain, for the fair-access quotas
    # (services/fair_access.py); kept by the booking core whenever the address is set.
    email_key: Mapped[str | None] = mapped_column(sa.String(254))
    email_domain: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str] = mapped_column(sa.String(20))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    code_hash: Mapped[str] = mapped_column(sa.String(64))
    code_attempts: Mapped[int] = mapped_column(default=0)
    code_sends: Mapped[int] = mapped_column(default=1)
    # Wrong IINs given with this reference on the look-up page, from any address, and when
    # the last was: enough of them pause the look-up (booking.look_up).
    lookup_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    lookup_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Raised on every change of time or status, for the calendar file's SEQUENCE.
    sequence: Mapped[int] = mapped_column(default=0)
    # When each reminder went out; cleared when the visit moves, so the new time is reminded.
    reminder_3d_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_1d_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rescheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    served_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # When the retention purge erased the applicant's details (the visit stays for reports).
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    office: Mapped[Office] = relationship()
    service_lines: Mapped[list[AppointmentService]] = relationship(
        back_populates="appointment", cascade="all, delete-orphan", order_by="AppointmentService.id"
    )
    # The slots the visit takes now (not those a reschedule left, still waiting for release).
    slots: Mapped[list[Slot]] = relationship(
        secondary="appointment_slot",
        primaryjoin="and_(Appointment.id == appointment_slot.c.appointment_id, "
        "appointment_slot.c.release_at.is_(None))",
        order_by="Slot.starts_at",
        viewonly=True,
    )
    manage_tokens: Mapped[list[ManageToken]] = relationship(
        back_populates="appointment", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        """Whether the appointment is held or confirmed."""
        return self.status in ACTIVE_STATUSES

    def is_hold_expired(self, now: datetime) -> bool:
        """Whether this is a hold whose time has run out."""
        return self.status == Status.HELD and self.hold_expires_at <= now

    def __repr__(self) -> str:
        return f"<Appointment {self.reference} {self.status}>"


class AppointmentService(Base):
    """One service of an appointment, as it was when booked.

    `iin` and `is_active` repeat the appointment's so that a partial unique index on
    (iin, service, active_seq) can refuse more active bookings of the same service for the
    same person than the service allows: each takes a numbered place 1..max_active_bookings.
    """

    __tablename__ = "appointment_service"
    __table_args__ = (
        sa.Index(
            "uq_appointment_service_active_iin",
            "iin",
            "service_type_id",
            "active_seq",
            unique=True,
            sqlite_where=sa.text("is_active"),
            postgresql_where=sa.text("is_active"),
        ),
        sa.UniqueConstraint("appointment_id", "service_type_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(sa.ForeignKey("appointment.id", ondelete="CASCADE"))
    service_type_id: Mapped[int] = mapped_column(sa.ForeignKey("service_type.id"))
    iin: Mapped[str] = mapped_column(sa.String(12))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Which of the service's allowed active bookings (1..max_active_bookings) this one uses.
    active_seq: Mapped[int] = mapped_column(default=1, server_default="1")
    snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    appointment: Mapped[Appointment] = relationship(back_populates="service_lines")
    service_type: Mapped[ServiceType] = relationship()


def line_counts_as_booking() -> sa.ColumnElement[bool]:
    """SQL condition: the service line counts as an active booking. Written as the bare
    column, exactly as the partial unique index's condition, so that both databases look a
    person's bookings up in that index (`is_active IS true` or `= 1` would read every line)."""
    return sa.literal_column("appointment_service.is_active")


class ManageToken(Base):
    """A random secret in a link that lets its holder see, cancel or change one appointment.

    Only a keyed hash is stored. Each email with a manage link carries a token of its own,
    so a link can be issued again later without ever keeping a token in clear.
    """

    __tablename__ = "manage_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("appointment.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    appointment: Mapped[Appointment] = relationship(back_populates="manage_tokens")


# The seats an appointment takes: one row per slot. A row counts in Slot.booked while
# `holds_seat` is true; `release_at` says when the seat goes back on sale (after a
# cancellation's delay, or when a reschedule moved the visit away from the slot), and
# `hold_until` when it does if the visit is still an unconfirmed hold (cleared on
# confirmation). Seats that may come back are thus found from the seats alone, through a
# partial index that holds only them, never the years of seats kept by past visits.
appointment_slot = sa.Table(
    "appointment_slot",
    Base.metadata,
    sa.Column(
        "appointment_id", sa.ForeignKey("appointment.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("slot_id", sa.ForeignKey("slot.id"), primary_key=True, index=True),
    sa.Column("holds_seat", sa.Boolean, nullable=False, default=True),
    sa.Column("release_at", UTCDateTime, nullable=True),
    sa.Column("hold_until", UTCDateTime, nullable=True),
)


def seat_may_come_back() -> sa.ColumnElement[bool]:
    """SQL condition: the seat is held but has a time at which it goes back on sale. The
    partial index below has exactly this condition, so queries that repeat it use it."""
    c = appointment_slot.c
    return sa.and_(
        c.holds_seat.is_(True), sa.or_(c.release_at.is_not(None), c.hold_until.is_not(None))
    )


sa.Index(
    "ix_appointment_slot_may_come_back",
    appointment_slot.c.slot_id,
    sqlite_where=seat_may_come_back(),
    postgresql_where=seat_may_come_back(),
)
