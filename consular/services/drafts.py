"""Booking drafts: the details page's answers, kept server-side between the journey's pages."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consular.database import SessionLike
from consular.models import BookingDraft

DRAFT_LIFETIME = timedelta(hours=1)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _draft(session: SessionLike, token: str | None, now: datetime) -> BookingDraft | None:
    if not token:
        return None
    return session.scalar(
        sa.select(BookingDraft).where(
            BookingDraft.token_hash == _token_hash(token), BookingDraft.expires_at > now
        )
    )


def load_draft(session: SessionLike, token: str | None, now: datetime) -> dict[str, Any] | None:
    """The answers kept under this token, or None when there are none (or they expired)."""
    draft = _draft(session, token, now)
    return dict(draft.answers) if draft is not None else None


def save_draft(
    session: SessionLike, token: str | None, answers: dict[str, Any], now: datetime
) -> str:
    """Keep the answers under the token (a new one when it has none); return the token.

    Expired drafts of every browser are deleted on the way, so no answers outlive their
    lifetime even where the retention purge is not scheduled."""
    purge_expired_drafts(session, now)
    draft = _draft(session, token, now)
    if draft is None or token is None:
        token = secrets.token_urlsafe(32)
        draft = BookingDraft(token_hash=_token_hash(token))
        session.add(draft)
    draft.answers = {str(name): str(value) for name, value in answers.items()}
    draft.updated_at = now
    draft.expires_at = now + DRAFT_LIFETIME
    session.flush()
    return token


def discard_draft(session: SessionLike, token: str | None) -> None:
    """Delete the answers kept under this token, if any."""
    if token:
        session.execute(
            sa.delete(BookingDraft).where(BookingDraft.token_hash == _token_hash(token))
        )


def purge_expired_drafts(session: SessionLike, now: datetime) -> int:
    """Delete every draft whose lifetime has ended; return how many."""
    result = session.execute(sa.delete(BookingDraft).where(BookingDraft.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
