"""The day's queue at an office: desks and the tickets of visitors waiting to be served."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.models.base import Base, UTCDateTime, now_utc, status_enum

if TYPE_CHECKING:
    from consular.models.appointment import Appointment
    from consular.models.office import Office
    from consular.models.service import ServiceType
    from consular.models.user import User


# The services a desk serves; a desk without rows here serves every service of its office.
desk_service = sa.Table(
    "desk_service",
    Base.metadata,
    sa.Column("desk_id", sa.ForeignKey("desk.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "service_type_id", sa.ForeignKey("service_type.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Desk(Base):
    """A counter where one clerk serves one visitor at a time."""

    __tablename__ = "desk"
    __table_args__ = (sa.UniqueConstraint("office_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(32))
    is_active: Mapped[bool] = mapped_column(default=True)

    office: Mapped[Office] = relationship()
    services: Mapped[list[ServiceType]] = relationship(secondary=desk_service)


class DeskClaim(Base):
    """The clerk working at a desk: taken for the clerk's signed-in session, renewed by each
    of their actions, and free for another clerk once the session ended (the account's
    session version moved on) or the clerk was idle for DESK_IDLE_MINUTES."""

    __tablename__ = "desk_claim"
    # A clerk works at one desk of an office at a time.
    __table_args__ = (sa.UniqueConstraint("office_id", "clerk_id"),)

    desk_id: Mapped[int] = mapped_column(
        sa.ForeignKey("desk.id", ondelete="CASCADE"), primary_key=True
    )
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    clerk_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    # The account's session version when the desk was taken (User.session_version).
    session_version: Mapped[int]
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    desk: Mapped[Desk] = relationship()
    clerk: Mapped[User] = relationship()


class TicketStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    PARKED = "parked"
    SERVED = "served"
    MISSED = "missed"
    CANCELLED = "cancelled"


OPEN_TICKET_STATUSES = (TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.PARKED)

# The condition of the index that keeps one visitor at a desk.
CALLED_AT_DESK = "status = 'called'"


class Ticket(Base):
    """A visitor's place in the day's queue, issued at check-in or for a walk-in."""

    __tablename__ = "ticket"
    __table_args__ = (
        sa.UniqueConstraint("office_id", "service_day", "number"),
        sa.CheckConstraint("number > 0", name="number_positive"),
        sa.CheckConstraint("call_count >= 0", name="call_count_nonnegative"),
        sa.Index("ix_ticket_queue", "office_id", "service_day", "status"),
        # Reports over all offices read a period's tickets by day.
        sa.Index("ix_ticket_service_day", "service_day"),
        # A desk serves one visitor at a time: one called ticket per desk and day.
        sa.Index(
            "uq_ticket_called_at_desk",
            "desk_id",
            "service_day",
            unique=True,
            sqlite_where=sa.text(CALLED_AT_DESK),
            postgresql_where=sa.text(CALLED_AT_DESK),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id"))
    service_day: Mapped[date]
    number: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(16))
    appointment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("appointment.id", ondelete="SET NULL"), unique=True
    )
    service_type_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_type.id"))
    is_walk_in: Mapped[bool] = mapped_column(default=False)
    is_priority: Mapped[bool] = mapped_column(default=False)
    status: Mapped[TicketStatus] = mapped_column(
        status_enum(TicketStatus), default=TicketStatus.WAITING
    )
    # The queue's second key: the appointment time for booked visitors, the arrival for
    # urgent walk-ins, and for ordinary ones the arrival or, behind booked visitors already
    # waiting for a time near it, the latest of those times (services.queue.walk_in_queue_at).
    queue_at: Mapped[datetime] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    desk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("desk.id"))
    # Set when a clerk transfers the visitor to a particular desk: only that desk calls it.
    assigned_desk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("desk.id"))
    clerk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    call_count: Mapped[int] = mapped_column(default=0)
    first_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(sa.String(500), default="")

    office: Mapped[Office] = relationship()
    appointment: Mapped[Appointment | None] = relationship()
    service_type: Mapped[ServiceType | None] = relationship()
    desk: Mapped[Desk | None] = relationship(foreign_keys=[desk_id])
    assigned_desk: Mapped[Desk | None] = relationship(foreign_keys=[assigned_desk_id])
    clerk: Mapped[User | None] = relationship()


class TicketCounter(Base):
    """The last ticket number issued at an office on a day, and the base slots its ordinary
    walk-ins took; each raised by a conditional update."""

    __tablename__ = "ticket_counter"
    __table_args__ = (sa.CheckConstraint("walk_in_slots >= 0", name="walk_in_slots_nonnegative"),)

    office_id: Mapped[int] = mapped_column(
        sa.ForeignKey("office.id", ondelete="CASCADE"), primary_key=True
    )
    service_day: Mapped[date] = mapped_column(primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)
    walk_in_slots: Mapped[int] = mapped_column(default=0, server_default="0")
