"""Writing the audit log, in the same transaction as the change it describes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from consular.database import SessionLike
from consular.models import AuditEntry, Office, User


def record(
    session: SessionLike,
    actor: User | None,
    now: datetime,
    action: str,
    entity: object,
    *,
    office_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry for a change by `actor` (None for a command)."""
    entry = AuditEntry(
        at=now,
        user_id=actor.id if actor is not None else None,
        office_id=office_id,
        action=action,
        entity=type(entity).__name__.lower(),
        entity_id=str(getattr(entity, "id", "") or "") or None,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def audit_entries_query(
    *,
    user_id: int | None = None,
    by_commands: bool = False,
    action: str | None = None,
    office_id: int | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
) -> sa.Select[tuple[AuditEntry, User | None, Office | None]]:
    """Entries matching the filters, newest first, each with its account and office.

    `by_commands` keeps the entries no account made; `since` and `before` bound `at`
    (half-open).
    """
    # The outer joins give None where an entry has no account or office; SQLAlchemy's
    # types can't tell an outer join from an inner one.
    query = cast(
        "sa.Select[tuple[AuditEntry, User | None, Office | None]]",
        sa.select(AuditEntry, User, Office)
        .outerjoin(User, AuditEntry.user_id == User.id)
        .outerjoin(Office, AuditEntry.office_id == Office.id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()),
    )
    if by_commands:
        query = query.where(AuditEntry.user_id.is_(None))
    elif user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if office_id is not None:
        query = query.where(AuditEntry.office_id == office_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if before is not None:
        query = query.where(AuditEntry.at < before)
    return query
