"""Service types a citizen can book, and which offices offer them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.models.base import Base
from consular.models.i18n import LocalizedText, localized, localized_list

if TYPE_CHECKING:
    from consular.models.office import Office

office_service = sa.Table(
    "office_service",
    Base.metadata,
    sa.Column("office_id", sa.ForeignKey("office.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "service_type_id", sa.ForeignKey("service_type.id", ondelete="CASCADE"), primary_key=True
    ),
)

# Pairs of services that may be booked together in one visit, stored in both directions.
service_combination = sa.Table(
    "service_combination",
    Base.metadata,
    sa.Column(
        "service_type_id", sa.ForeignKey("service_type.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "other_service_type_id",
        sa.ForeignKey("service_type.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.CheckConstraint("service_type_id <> other_service_type_id", name="not_self"),
)


class ServiceType(Base):
    """A consular service such as passport renewal, with its rules and texts."""

    __tablename__ = "service_type"
    __table_args__ = (
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration_range"),
        sa.CheckConstraint("min_notice_hours >= 0", name="min_notice_nonnegative"),
        sa.CheckConstraint("horizon_days >= 1", name="horizon_positive"),
        sa.CheckConstraint("cutoff_hours >= 0", name="cutoff_nonnegative"),
        sa.CheckConstraint("max_active_bookings BETWEEN 1 AND 10", name="max_active_range"),
        sa.CheckConstraint("iin_window_days BETWEEN 0 AND 366", name="iin_window_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[LocalizedText] = mapped_column(sa.JSON)
    description: Mapped[LocalizedText] = mapped_column(sa.JSON, default=dict)
    documents: Mapped[dict[str, list[str]]] = mapped_column(sa.JSON, default=dict)
    fee: Mapped[LocalizedText] = mapped_column(sa.JSON, default=dict)
    duration_minutes: Mapped[int] = mapped_column(default=15)
    # Names of the detail sets in consular.services.details that this service collects.
    detail_sets: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    min_notice_hours: Mapped[int] = mapped_column(default=24)
    horizon_days: Mapped[int] = mapped_column(default=60)
    cutoff_hours: Mapped[int] = mapped_column(default=24)
    # How many active bookings of this service one IIN may hold at a time.
    max_active_bookings: Mapped[int] = mapped_column(default=1, server_default="1")
    # One booking per IIN in this many days (0: no such rule); cancelled and missed bookings
    # count too, as on egov.kz, so that cancelling and booking again gains nothing.
    iin_window_days: Mapped[int] = mapped_column(default=0, server_default="0")
    # Whether citizens who find nothing free may wait for a seat, and whom a freed seat goes
    # to first (models/waitlist.py): "off", "fifo" or "random".
    waitlist_mode: Mapped[str] = mapped_column(sa.String(8), default="off", server_default="off")
    # False: staff-only (walk-ins and bookings made at the office), not offered online.
    is_online: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    offices: Mapped[list[Office]] = relationship(
        secondary=office_service, back_populates="services"
    )
    combinable_with: Mapped[list[ServiceType]] = relationship(
        secondary=service_combination,
        primaryjoin=lambda: ServiceType.id == service_combination.c.service_type_id,
        secondaryjoin=lambda: ServiceType.id == service_combination.c.other_service_type_id,
        order_by=lambda: ServiceType.sort_order,
    )

    def can_combine_with(self, other: ServiceType) -> bool:
        """Whether the two services may be booked in the same visit."""
        return other.id == self.id or any(s.id == other.id for s in self.combinable_with)

    def display_name(self, locale: str) -> str:
        """The service's name in the given language, falling back to English."""
        return localized(self.name, locale)

    def documents_for(self, locale: str) -> list[str]:
        """The documents to bring, in the given language."""
        return localized_list(self.documents, locale)

    def snapshot(self) -> dict[str, object]:
        """What an appointment keeps of this service as it was when booked."""
        return {
            "code": self.code,
            "name": dict(self.name),
            "documents": {k: list(v) for k, v in self.documents.items()},
            "fee": dict(self.fee),
            "duration_minutes": self.duration_minutes,
            "min_notice_hours": self.min_notice_hours,
            "horizon_days": self.horizon_days,
            "cutoff_hours": self.cutoff_hours,
            "max_active_bookings": self.max_active_bookings,
        }

    def __repr__(self) -> str:
        return f"<ServiceType {self.code}>"
