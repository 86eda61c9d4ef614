"""Staff accounts: clerks, managers and administrators, each tied to offices."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.models.base import Base, UTCDateTime, now_utc

if TYPE_CHECKING:
    from consular.models.office import Office


class Role(StrEnum):
    CLERK = "clerk"
    MANAGER = "manager"
    ADMIN = "admin"


user_office = sa.Table(
    "user_office",
    Base.metadata,
    sa.Column("user_id", sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("office_id", sa.ForeignKey("office.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, Base):
    """A member of staff who signs in with an email and a password."""

    __tablename__ = "user_account"
    __table_args__ = (
        sa.CheckConstraint("role IN ('clerk', 'manager', 'admin')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default=Role.CLERK)
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Part of the session identity: changing it ends every session of this account.
    session_version: Mapped[int] = mapped_column(default=1)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    offices: Mapped[list[Office]] = relationship(secondary=user_office, order_by="Office.id")

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def can_access_office(self, office_id: int) -> bool:
        """Whether this account may see and change the given office's data."""
        return self.is_admin or any(office.id == office_id for office in self.offices)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class PasswordHandover(Base):
    """A temporary password waiting to be shown once to the administrator who made it.

    Only the password XORed with a random pad of its own length is stored here; the pad is
    in that administrator's signed session. Neither half alone tells the password, and the
    row is deleted when the page shows it (or when it is older than a few minutes), so a
    copy of an older session cookie shows nothing."""

    __tablename__ = "password_handover"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    admin_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    sealed: Mapped[str] = mapped_column(sa.String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
