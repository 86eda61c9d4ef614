"""Writing the audit log, in the same transaction as the change it describes."""

from __future__ import annotations

from collections.abc import Iterator
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


AUDIT_ROW_COLUMNS = (
    AuditEntry.id,
    AuditEntry.at,
    AuditEntry.action,
    AuditEntry.entity,
    AuditEntry.entity_id,
    AuditEntry.before,
    AuditEntry.after,
    User.email.label("account_email"),
    User.name.label("account_name"),
    Office.code.label("office_code"),
)


def audit_rows_in_pages(
    session: SessionLike, query: sa.Select[Any], page_size: int = 500
) -> Iterator[sa.Row[Any]]:
    """The rows of an `audit_entries_query` as plain values, read a page at a time.

    Pages follow the query's order (newest first) by keyset, so no cursor or transaction
    stays open while a long export is sent, and an entry written meanwhile (newer than
    every page read) is neither repeated nor shifts the later pages.
    """
    columns = query.with_only_columns(*AUDIT_ROW_COLUMNS, maintain_column_froms=True)
    last: sa.Row[Any] | None = None
    while True:
        page = columns
        if last is not None:
            page = page.where(
                sa.or_(
                    AuditEntry.at < last.at,
                    sa.and_(AuditEntry.at == last.at, AuditEntry.id < last.id),
                )
            )
        rows = session.execute(page.limit(page_size)).all()
        yield from rows
        if len(rows) < page_size:
            return
        last = rows[-1]
