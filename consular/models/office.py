"""Consular offices and the texts they show in four languages."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.models.base import Base
from consular.models.i18n import LocalizedText, localized

if TYPE_CHECKING:
    from consular.models.schedule import Closure, OpeningPeriod
    from consular.models.service import ServiceType


class Office(Base):
    """An office where citizens are served: the Embassy's consular section or a consulate."""

    __tablename__ = "office"
    __table_args__ = (
        sa.CheckConstraint("slot_minutes BETWEEN 5 AND 240", name="slot_minutes_range"),
        sa.CheckConstraint("walk_in_share BETWEEN 0 AND 100", name="walk_in_share_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    reference_prefix: Mapped[str] = mapped_column(sa.String(3), unique=True)
    name: Mapped[LocalizedText] = mapped_column(sa.JSON)
    address: Mapped[LocalizedText] = mapped_column(sa.JSON, default=dict)
    directions: Mapped[LocalizedText] = mapped_column(sa.JSON, default=dict)
    map_url: Mapped[str] = mapped_column(sa.String(500), default="")
    phone: Mapped[str] = mapped_column(sa.String(32), default="")
    # The Korean postal code, shown with the address in Korean script for taxis and map apps.
    postal_code: Mapped[str] = mapped_column(sa.String(10), default="", server_default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    timezone: Mapped[str] = mapped_column(sa.String(64))
    slot_minutes: Mapped[int] = mapped_column(default=15)
    booking_open: Mapped[bool] = mapped_column(default=True)
    booking_closed_message: Mapped[LocalizedText] = mapped_column(sa.JSON, default=dict)
    is_demo: Mapped[bool] = mapped_column(default=False)
    # The letter of the office's queue tickets, e.g. "B" for B-017.
    ticket_prefix: Mapped[str] = mapped_column(sa.String(2), default="A")
    # Share of desk capacity kept for walk-ins and urgent cases, in percent.
    walk_in_share: Mapped[int] = mapped_column(default=0)
    # Whether the waiting-room display says each call aloud, and in which languages (locale
    # codes, in the order spoken: Korean, then Kazakh or Russian).
    calls_spoken: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    call_languages: Mapped[list[str]] = mapped_column(
        sa.JSON, default=lambda: ["ko", "ru"], server_default='["ko", "ru"]'
    )
    # Named in every waiting-room kiosk's cookie: raising it stops every kiosk of the office.
    kiosk_generation: Mapped[int] = mapped_column(default=1, server_default="1")

    services: Mapped[list[ServiceType]] = relationship(
        secondary="office_service", back_populates="offices", order_by="ServiceType.sort_order"
    )
    opening_periods: Mapped[list[OpeningPeriod]] = relationship(
        back_populates="office",
        cascade="all, delete-orphan",
        order_by="(OpeningPeriod.weekday, OpeningPeriod.opens_at)",
    )
    closures: Mapped[list[Closure]] = relationship(
        back_populates="office", cascade="all, delete-orphan", order_by="Closure.first_day"
    )

    @property
    def zone(self) -> ZoneInfo:
        """The office's IANA time zone."""
        return ZoneInfo(self.timezone)

    def display_name(self, locale: str) -> str:
        """The office's name in the given language, falling back to English."""
        return localized(self.name, locale)

    def __repr__(self) -> str:
        return f"<Office {self.code}>"
