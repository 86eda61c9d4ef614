"""Which clerk works at which desk: one clerk a desk, and one desk a clerk in an office.

A clerk takes a desk for their signed-in session. The desk is theirs until they choose
another desk of the office or leave it, and it is free for another clerk once their session
ended (signing out raises the account's session version) or they did nothing at it for
DESK_IDLE_MINUTES. Taking a desk is one conditional upsert on its row, so two clerks
choosing the same desk at once can't both get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from consular.database import SessionLike, rows_changed
from consular.models import Desk, DeskClaim, Office, ServiceType, Ticket, TicketStatus, User
from consular.services.audit import record
from consular.services.errors import InvalidState, NotFound, ValidationFailed


class DeskTaken(InvalidState):
    """Another clerk works at the desk."""

    code = "desk_taken"


def _is_free_for(clerk: User, now: datetime, idle: timedelta) -> sa.ColumnElement[bool]:
    """SQL condition on a claim row: the clerk may take the desk (it is theirs already, its
    holder was idle too long, or the holder's session has ended)."""
    holder_version = (
        sa.select(User.session_version).where(User.id == DeskClaim.clerk_id).scalar_subquery()
    )
    return sa.or_(
        DeskClaim.clerk_id == clerk.id,
        DeskClaim.seen_at < now - idle,
        DeskClaim.session_version != holder_version,
    )


def _holder_name(session: SessionLike, desk: Desk) -> str:
    name = session.scalar(
        sa.select(User.name)
        .join(DeskClaim, DeskClaim.clerk_id == User.id)
        .where(DeskClaim.desk_id == desk.id)
    )
    return name or "?"


def take_desk(
    session: SessionLike, desk: Desk, clerk: User, now: datetime, idle: timedelta
) -> None:
    """Take the desk for the clerk's session, leaving the clerk's other desk of the office;
    DeskTaken, naming the holder, if another clerk works there."""
    if not desk.is_active:
        raise NotFound(_("There is no such desk."))
    session.execute(
        sa.delete(DeskClaim)
        .where(
            DeskClaim.office_id == desk.office_id,
            DeskClaim.clerk_id == clerk.id,
            DeskClaim.desk_id != desk.id,
        )
        .execution_options(synchronize_session=False)
    )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(DeskClaim).values(
        desk_id=desk.id,
        office_id=desk.office_id,
        clerk_id=clerk.id,
        session_version=clerk.session_version,
        claimed_at=now,
        seen_at=now,
    )
    taken = session.execute(
        statement.on_conflict_do_update(
            index_elements=[DeskClaim.desk_id],
            set_={
                "clerk_id": statement.excluded.clerk_id,
                "session_version": statement.excluded.session_version,
                "claimed_at": sa.case(
                    (DeskClaim.clerk_id == statement.excluded.clerk_id, DeskClaim.claimed_at),
                    else_=statement.excluded.claimed_at,
                ),
                "seen_at": statement.excluded.seen_at,
            },
            where=_is_free_for(clerk, now, idle),
        ).returning(DeskClaim.desk_id)
    ).first()
    if taken is None:
        raise DeskTaken(
            _(
                "Desk %(desk)s is taken by %(name)s. Choose another desk, or ask them to leave it.",
                desk=desk.name,
                name=_holder_name(session, desk),
            ),
            field="desk",
        )


def leave_desk(session: SessionLike, office: Office, clerk: User) -> bool:
    """Free the clerk's desk of the office; whether they had one."""
    left = session.execute(
        sa.delete(DeskClaim)
        .where(DeskClaim.office_id == office.id, DeskClaim.clerk_id == clerk.id)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(left) > 0


def held_desk_query(office_id: int, clerk: User) -> sa.Select[tuple[int]]:
    """The id of the active desk of the office that the clerk holds in this session."""
    return (
        sa.select(DeskClaim.desk_id)
        .join(Desk, Desk.id == DeskClaim.desk_id)
        .where(
            DeskClaim.office_id == office_id,
            DeskClaim.clerk_id == clerk.id,
            DeskClaim.session_version == clerk.session_version,
            Desk.is_active.is_(True),
        )
    )


def held_desk(session: SessionLike, office: Office, clerk: User) -> Desk | None:
    """The desk of the office the clerk works at, if any."""
    desk_id = session.scalar(held_desk_query(office.id, clerk))
    return session.get(Desk, desk_id) if desk_id is not None else None


def work_at_desk(session: SessionLike, office: Office, clerk: User, now: datetime) -> Desk:
    """The clerk's desk for an action at it, the claim renewed; InvalidState if the clerk
    holds no desk of the office in this session (never chosen, left, or taken by another
    clerk after the clerk was idle too long)."""
    desk = held_desk(session, office, clerk)
    if desk is None:
        raise InvalidState(_("Choose your desk first."), field="desk")
    session.execute(
        sa.update(DeskClaim)
        .where(DeskClaim.desk_id == desk.id, DeskClaim.clerk_id == clerk.id)
        .values(seen_at=now)
        .execution_options(synchronize_session=False)
    )
    return desk


# Managers keep the office's desks: the counters clerks choose, and what each serves.

DESK_NAME_LENGTH = 32


def _desk_values(desk: Desk) -> dict[str, object]:
    return {
        "name": desk.name,
        "in_use": desk.is_active,
        "services": sorted(service.code for service in desk.services),
    }


def _clean_name(session: SessionLike, office: Office, name: str, desk: Desk | None) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed({"name": [_("Enter the desk's name, as its sign shows it.")]})
    if len(cleaned) > DESK_NAME_LENGTH:
        raise ValidationFailed(
            {"name": [_("Use at most %(num)d characters.", num=DESK_NAME_LENGTH)]}
        )
    clash = session.scalar(
        sa.select(Desk.id).where(
            Desk.office_id == office.id,
            Desk.name == cleaned,
            Desk.id != (desk.id if desk is not None else -1),
        )
    )
    if clash is not None:
        raise ValidationFailed({"name": [_("The office has a desk of that name already.")]})
    return cleaned


def _served(office: Office, services: Sequence[ServiceType]) -> list[ServiceType]:
    offered = {service.id for service in office.services}
    if any(service.id not in offered for service in services):
        raise ValidationFailed({"services": [_("Choose among the office's services.")]})
    return list(services)


def _flush_name(session: SessionLike) -> None:
    """Flush in a savepoint: a manager adding the same name at the same moment meets the
    unique constraint, which is answered as the check above answers it."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        raise ValidationFailed(
            {"name": [_("The office has a desk of that name already.")]}
        ) from error


def add_desk(
    session: SessionLike,
    office: Office,
    name: str,
    services: Sequence[ServiceType],
    actor: User,
    now: datetime,
) -> Desk:
    """Add a desk to the office; with no services chosen it serves them all."""
    desk = Desk(
        office=office,
        name=_clean_name(session, office, name, None),
        is_active=True,
        services=_served(office, services),
    )
    session.add(desk)
    _flush_name(session)
    record(session, actor, now, "add_desk", desk, office_id=office.id, after=_desk_values(desk))
    return desk


def change_desk(
    session: SessionLike,
    desk: Desk,
    name: str,
    services: Sequence[ServiceType],
    active: bool,
    actor: User,
    now: datetime,
) -> Desk:
    """Rename the desk, choose what it serves, or take it out of use (or back into use).

    A desk with a visitor at it is not taken out of use: the clerk finishes them first. A desk
    taken out of use is left by whoever worked at it."""
    office = desk.office
    before = _desk_values(desk)
    cleaned = _clean_name(session, office, name, desk)
    chosen = _served(office, services)
    if desk.is_active and not active:
        at_desk = session.scalar(
            sa.select(Ticket.label).where(
                Ticket.desk_id == desk.id, Ticket.status == TicketStatus.CALLED
            )
        )
        if at_desk is not None:
            raise InvalidState(
                _(
                    "Ticket %(ticket)s is at desk %(desk)s. Finish that visit first.",
                    ticket=at_desk,
                    desk=desk.name,
                ),
                field="active",
            )
        session.execute(
            sa.delete(DeskClaim)
            .where(DeskClaim.desk_id == desk.id)
            .execution_options(synchronize_session=False)
        )
    desk.name, desk.services, desk.is_active = cleaned, chosen, active
    _flush_name(session)
    after = _desk_values(desk)
    if after != before:
        record(
            session,
            actor,
            now,
            "change_desk",
            desk,
            office_id=office.id,
            before=before,
            after=after,
        )
    return desk
