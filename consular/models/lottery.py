"""Lottery releases: days of an office's services given out by a seeded draw among entrants,
not to whoever is fastest.

A release covers a range of the office's local days for one or more services. While its
entry window is open, citizens enter (one entry per IIN, per e-mail address and per phone
in each release: partial unique indexes over the entries that take a place in it); at the
draw time the entries are put in a random order from a stored seed, and seats are offered
in that order by each entrant's preferences. An offered seat is an appointment held for the
winner until they confirm it; a seat declined or not confirmed goes to the next entrant in
draw order who has not been served yet.
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


class ReleaseState(StrEnum):
    # Announced, open and closed follow the entry window's times; the stored state catches up
    # when a command or an entry touches the release (`effective_state` reads it at once).
    ANNOUNCED = "announced"
    OPEN = "open"
    CLOSED = "closed"
    DRAWN = "drawn"
    # Nothing is left to offer (or the days are over): the days are back on ordinary sale.
    FINISHED = "finished"
    CANCELLED = "cancelled"


# Before the draw: an entry can still be made (while open) or withdrawn.
UNDRAWN_STATES: tuple[ReleaseState, ...] = (
    ReleaseState.ANNOUNCED,
    ReleaseState.OPEN,
    ReleaseState.CLOSED,
)
# The release's days are kept off first-come sale for its services in these states.
RESERVING_STATES: tuple[ReleaseState, ...] = (*UNDRAWN_STATES, ReleaseState.DRAWN)


class EntryStatus(StrEnum):
    UNVERIFIED = "unverified"  # the e-mailed code has not been entered yet
    ENTERED = "entered"  # in the draw
    WITHDRAWN = "withdrawn"  # taken out by the entrant before the draw
    WAITING = "waiting"  # drawn without a seat: in line for a seat that comes back
    OFFERED = "offered"  # a seat is held for the entrant until they confirm it
    BOOKED = "booked"  # confirmed: the offer is an appointment
    DECLINED = "declined"  # the entrant declined the offer
    LAPSED = "lapsed"  # the offer was not confirmed in time
    INELIGIBLE = "ineligible"  # the seat could not be given (already booked for the service)
    NOT_SERVED = "not_served"  # the release ended before a seat came to the entrant


# Entries that still wait for something to happen after the draw.
IN_LINE_STATUSES: tuple[EntryStatus, ...] = (EntryStatus.WAITING, EntryStatus.OFFERED)


lottery_release_service = sa.Table(
    "lottery_release_service",
    Base.metadata,
    sa.Column(
        "release_id", sa.ForeignKey("lottery_release.id", ondelete="CASCADE"), primary_key=True
    ),
    # No cascade: a service given out by a lottery has history and can only be retired.
    sa.Column("service_type_id", sa.ForeignKey("service_type.id"), primary_key=True, index=True),
)

lottery_entry_service = sa.Table(
    "lottery_entry_service",
    Base.metadata,
    sa.Column("entry_id", sa.ForeignKey("lottery_entry.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_type_id", sa.ForeignKey("service_type.id"), primary_key=True),
)


class LotteryRelease(Base):
    """Days of an office's services given out by a draw among the entries of a window."""

    __tablename__ = "lottery_release"
    __table_args__ = (
        sa.CheckConstraint("first_day <= last_day", name="days_in_order"),
        sa.CheckConstraint("opens_at < closes_at", name="opens_before_closing"),
        sa.CheckConstraint("closes_at <= draw_at", name="draw_after_closing"),
        sa.CheckConstraint("confirm_hours BETWEEN 1 AND 336", name="confirm_hours_range"),
        sa.Index("ix_lottery_release_office_last_day", "office_id", "last_day"),
        sa.Index("ix_lottery_release_state_draw_at", "state", "draw_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id"))
    # The office's local days covered, both included.
    first_day: Mapped[date] = mapped_column(sa.Date)
    last_day: Mapped[date] = mapped_column(sa.Date)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    draw_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How long a winner has to confirm an offered seat.
    confirm_hours: Mapped[int] = mapped_column(default=48)
    state: Mapped[ReleaseState] = mapped_column(
        status_enum(ReleaseState), default=ReleaseState.ANNOUNCED
    )
    # The draw: its seed (hex), when it ran, and everything needed to run it again.
    seed: Mapped[str | None] = mapped_column(sa.String(64))
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    draw_log: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # When seats were last offered again after the draw (the row is touched to serialise it).
    advanced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    office: Mapped[Office] = relationship()
    services: Mapped[list[ServiceType]] = relationship(
        secondary=lottery_release_service, order_by="ServiceType.sort_order"
    )

    def effective_state(self, now: datetime) -> ReleaseState:
        """The state at `now`: the entry window's times decide until the draw."""
        if self.state not in UNDRAWN_STATES:
            return self.state
        if now < self.opens_at:
            return ReleaseState.ANNOUNCED
        if now < self.closes_at:
            return ReleaseState.OPEN
        return ReleaseState.CLOSED

    def is_open(self, now: datetime) -> bool:
        """Whether entries are accepted at `now`."""
        return self.effective_state(now) == ReleaseState.OPEN

    def __repr__(self) -> str:
        return f"<LotteryRelease {self.id} {self.state}>"


class LotteryEntry(Base):
    """One citizen's entry in a release, with their details as a booking collects them."""

    __tablename__ = "lottery_entry"
    __table_args__ = (
        # One place per person in each release: by IIN, by e-mail address and by phone.
        # Only entries that take a place (verified, not withdrawn) count, so that an
        # unverified entry made with someone else's IIN can't lock them out.
        *(
            sa.Index(
                f"uq_lottery_entry_place_{column}",
                "release_id",
                column,
                unique=True,
                sqlite_where=sa.text("takes_place"),
                postgresql_where=sa.text("takes_place"),
            )
            for column in ("iin", "email_key", "phone")
        ),
        sa.UniqueConstraint("release_id", "draw_position"),
        sa.CheckConstraint("code_attempts >= 0", name="code_attempts_nonnegative"),
        sa.CheckConstraint("draw_position >= 1", name="draw_position_positive"),
        sa.Index("ix_lottery_entry_release_status", "release_id", "status"),
        sa.Index("ix_lottery_entry_release_domain", "release_id", "email_domain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(sa.ForeignKey("lottery_release.id"))
    reference: Mapped[str] = mapped_column(sa.String(16), unique=True)
    status: Mapped[EntryStatus] = mapped_column(
        status_enum(EntryStatus), default=EntryStatus.UNVERIFIED
    )
    takes_place: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")

    given_name: Mapped[str] = mapped_column(sa.String(100))
    family_name: Mapped[str] = mapped_column(sa.String(100))
    iin: Mapped[str] = mapped_column(sa.String(12), index=True)
    passport_number: Mapped[str] = mapped_column(sa.String(20))
    email: Mapped[str] = mapped_column(sa.String(254))
    # The address as the one-entry rule compares it (see services/lottery.py).
    email_key: Mapped[str] = mapped_column(sa.String(254))
    # Its registrable domain, for the limit of entries per private domain (fair_access.py).
    email_domain: Mapped[str] = mapped_column(sa.String(254), default="", server_default="")
    phone: Mapped[str] = mapped_column(sa.String(20))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # Preferred days and parts of the day, in order: [{"day": "YYYY-MM-DD" | None,
    # "part": "morning" | "afternoon" | None}].
    preferences: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # Any free time of the release if none of the preferences can be met.
    accept_any: Mapped[bool] = mapped_column(default=True)
    # The entrant wants to join the waiting list if they don't get a seat.
    wants_waitlist: Mapped[bool] = mapped_column(default=False)

    code_hash: Mapped[str] = mapped_column(sa.String(64))
    code_attempts: Mapped[int] = mapped_column(default=0)
    code_sends: Mapped[int] = mapped_column(default=1)
    code_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    draw_position: Mapped[int | None] = mapped_column()
    appointment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("appointment.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    release: Mapped[LotteryRelease] = relationship()
    services: Mapped[list[ServiceType]] = relationship(
        secondary=lottery_entry_service, order_by="ServiceType.sort_order"
    )
    appointment: Mapped[Appointment | None] = relationship()
    tokens: Mapped[list[LotteryEntryToken]] = relationship(
        back_populates="entry", cascade="all, delete-orphan"
    )

    def is_code_expired(self, now: datetime) -> bool:
        """Whether the entry still waits for its code and can no longer get it."""
        return self.status == EntryStatus.UNVERIFIED and self.code_expires_at <= now

    def __repr__(self) -> str:
        return f"<LotteryEntry {self.reference} {self.status}>"


class LotteryEntryToken(Base):
    """A random secret in a link that opens one entry; only a keyed hash is stored."""

    __tablename__ = "lottery_entry_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("lottery_entry.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    entry: Mapped[LotteryEntry] = relationship(back_populates="tokens")


class LotteryEvent(Base):
    """What happened to an entry after the draw: a seat offered, confirmed, declined …"""

    __tablename__ = "lottery_event"
    __table_args__ = (sa.Index("ix_lottery_event_release_id_id", "release_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(sa.ForeignKey("lottery_release.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("lottery_entry.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # "offered", "confirmed", "declined", "lapsed", "refused", "not_served", "finished"
    kind: Mapped[str] = mapped_column(sa.String(16))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appointment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("appointment.id", ondelete="SET NULL")
    )
    detail: Mapped[str | None] = mapped_column(sa.String(200))
