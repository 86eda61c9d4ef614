"""Writing the audit log, in the same transaction as the change it describes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from consular.models import AuditEntry, User


def record(
    session: Session,
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
