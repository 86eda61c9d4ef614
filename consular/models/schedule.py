"""An office's opening hours, desks, closures and the slots generated from them."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.models.base import Base, UTCDateTime, now_utc

if TYPE_CHECKING:
    from consular.models.office import Office


class OpeningPeriod(Base):
    """A block of a weekday when the office serves visitors at a number of desks.

    Breaks are the gaps between an office's periods on the same weekday.
    """

    __tablename__ = "opening_period"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        sa.CheckConstraint("opens_at < closes_at", name="opens_before_closes"),
        sa.CheckConstraint("desks BETWEEN 1 AND 100", name="desks_range"),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until",
            name="valid_in_order",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    weekday: Mapped[int]  # Monday is 0, as in datetime.date.weekday()
    opens_at: Mapped[time]
    closes_at: Mapped[time]
    desks: Mapped[int] = mapped_column(default=1)
    # The office's local days the period applies on, both included; None: no bound. A change
    # that takes effect on a later day ends the old period the day before and starts a new one.
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]

    office: Mapped[Office] = relationship(back_populates="opening_periods")

    def applies_on(self, day: date) -> bool:
        """Whether the period is part of the schedule on this local day (of its weekday)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


class ClosureKind:
    MANUAL = "manual"
    HOLIDAY = "holiday"


class Closure(Base):
    """Days on which an office is closed: a public holiday or a closure set by a manager."""

    __tablename__ = "closure"
    __table_args__ = (
        sa.CheckConstraint("first_day <= last_day", name="days_in_order"),
        sa.CheckConstraint("kind IN ('manual', 'holiday')", name="kind_known"),
        sa.UniqueConstraint("office_id", "holiday_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    first_day: Mapped[date]
    last_day: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    # The public calendar shows the reason of the days closed; a reason for staff only stays off it.
    is_reason_public: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    kind: Mapped[str] = mapped_column(sa.String(16), default=ClosureKind.MANUAL)
    # "KR:2026-01-01" for a loaded public holiday, so reloading never duplicates or revives it.
    holiday_key: Mapped[str | None] = mapped_column(sa.String(32))
    # A removed public holiday stays as an inactive row so that reloading does not restore it.
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    office: Mapped[Office] = relationship(back_populates="closures")

    def covers(self, day: date) -> bool:
        """Whether this closure closes the office on the given day."""
        return self.is_active and self.first_day <= day <= self.last_day


class Slot(Base):
    """One base-length interval of an office's time with a number of seats (desks)."""

    __tablename__ = "slot"
    __table_args__ = (
        sa.UniqueConstraint("office_id", "starts_at"),
        sa.CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        sa.CheckConstraint("booked >= 0", name="booked_nonnegative"),
        sa.CheckConstraint("booked <= capacity", name="booked_within_capacity"),
        sa.CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Desks open in this slot; `capacity` is what online booking may take of them.
    desks: Mapped[int] = mapped_column(default=1)
    capacity: Mapped[int]
    # Seats taken by appointments that still hold them (held, confirmed, or released later).
    booked: Mapped[int] = mapped_column(default=0)
    is_blocked: Mapped[bool] = mapped_column(default=False)
    # Kept only because appointments still hold seats in it after a schedule change.
    outside_schedule: Mapped[bool] = mapped_column(default=False)
    # A manager chose to keep the appointments of a slot outside the schedule.
    is_kept: Mapped[bool] = mapped_column(default=False)

    office: Mapped[Office] = relationship()

    def __repr__(self) -> str:
        return f"<Slot {self.office_id} {self.starts_at.isoformat()} {self.booked}/{self.capacity}>"
