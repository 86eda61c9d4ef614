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


class ServiceType(Base):
    """A consular service such as passport renewal, with its rules and texts."""

    __tablename__ = "service_type"
    __table_args__ = (
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration_range"),
        sa.CheckConstraint("min_notice_hours >= 0", name="min_notice_nonnegative"),
        sa.CheckConstraint("horizon_days >= 1", name="horizon_positive"),
        sa.CheckConstraint("cutoff_hours >= 0", name="cutoff_nonnegative"),
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
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)

    offices: Mapped[list[Office]] = relationship(
        secondary=office_service, back_populates="services"
    )

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
        }

    def __repr__(self) -> str:
        return f"<ServiceType {self.code}>"
