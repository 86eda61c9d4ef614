"""Failed sign-ins and the proofs of work spent on sign-in, shared by every worker and host."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime


class SignInFailure(Base):
    """The recent wrong passwords given for one e-mail address from one client address.

    The e-mail is what was typed (lower case), whether or not an account has it, so the
    throttle answers alike for both. A row is deleted when that pair signs in, and forgotten
    once it is old (`consular.services.sign_in_throttle`).
    """

    __tablename__ = "sign_in_failure"
    __table_args__ = (
        sa.Index("ix_sign_in_failure_email_failed_at", "email", "last_failed_at"),
        sa.CheckConstraint("failures >= 1", name="failures_positive"),
        sa.CheckConstraint("blocked_until >= last_failed_at", name="blocked_after_failure"),
    )

    email: Mapped[str] = mapped_column(sa.String(254), primary_key=True)
    address: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # No try of this pair is checked before then (the last failure's time when no delay).
    blocked_until: Mapped[datetime] = mapped_column(UTCDateTime)


class SpentSignInProof(Base):
    """A solved sign-in challenge that a sign-in has used: the primary key refuses a second
    use; the row is deleted once the challenge has expired (`forget_at`)."""

    __tablename__ = "spent_sign_in_proof"

    signature: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    forget_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
