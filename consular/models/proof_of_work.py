"""Spent proofs of work: each challenge's solution is accepted once, by every worker and host."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime


class SpentProof(Base):
    """A solved challenge that a hold request has used.

    The primary key refuses a second use of the same challenge, whichever process or host
    receives it. The rows also count the recent hold requests of an office and of a network,
    which set the difficulty of the next challenges; each row is deleted once it is no longer
    needed for either (`forget_at`), so the table holds minutes of traffic, never history.
    """

    __tablename__ = "spent_proof"
    __table_args__ = (
        sa.Index("ix_spent_proof_office_spent_at", "office_id", "spent_at"),
        sa.Index("ix_spent_proof_network_spent_at", "network", "spent_at"),
        sa.CheckConstraint("forget_at >= spent_at", name="forgotten_after_use"),
    )

    # The challenge's HMAC signature (hex): unique to the challenge, and signed by us.
    signature: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    # The client's /24 (IPv4) or /64 (IPv6), as `consular.clients.Client.network`.
    network: Mapped[str] = mapped_column(sa.String(64))
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The later of the challenge's expiry (replays are refused until then) and the end of
    # the window in which this request raises the difficulty.
    forget_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
