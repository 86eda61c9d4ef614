"""Versions of what the clerk's day page shows, kept by the database itself.

The day page is served from a cache of its rendered HTML (consular/page_cache.py), kept
under the versions of everything it read. Triggers on every table the page reads raise a
version in the writing transaction, whoever writes (the queue, the booking core, a manager,
an administrator, a script or a raw UPDATE), so a cached page stops being served by the
first request that can see the change.

Two counters, which only ever grow:

- `day_page_version`, per office and UTC date, for the rows of a day: an appointment and
  its service lines (by the appointment's start), a slot (by its start), a ticket and the
  day's ticket counter (by their service day, a local date, which is always one of the
  UTC dates its local day spans: zones are less than a day from UTC). A local day spans
  two UTC dates (three on a 25-hour day), so the page reads the sum of their counters,
  which changes with every write to any of them. Per date rather than per office: bookings
  of other days don't touch the page's counter, and writers of different days never queue
  on one row.
- `office_page_version`, per office, for what every day of it shows: its desks, the
  services it offers (and their names and order), and the office's name, code, zone and
  walk-in share.

Holds, live or expired, are not on the page: placing and expiring them raises nothing,
and a day opening's rush of holds never queues on a counter. Only the columns the page
shows count (a slot's `booked` changes with every hold, its `desks` hardly ever).

On PostgreSQL the triggers are deferred to the commit: a counter's row is locked only
while the transaction commits, after every other lock it takes, so two writers of one day
(a check-in and a walk-in, which also lock the day's ticket counter in the other order)
queue for that instant and never deadlock. SQLite takes its one write lock at BEGIN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base


class DayPageVersion(Base):
    """How often what an office's day pages show of one UTC date has changed."""

    __tablename__ = "day_page_version"

    office_id: Mapped[int] = mapped_column(
        sa.ForeignKey("office.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=1)


class OfficePageVersion(Base):
    """How often what every day page of an office shows has changed."""

    __tablename__ = "office_page_version"

    office_id: Mapped[int] = mapped_column(
        sa.ForeignKey("office.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(sa.BigInteger, default=1)


def _utc_dates(dialect: str, sql: str) -> str:
    """SQL with each `UTC_DATE(instant)` written as the UTC date of a stored instant in the
    dialect (SQLite keeps UTC text without an offset)."""

    def written(match: re.Match[str]) -> str:
        instant = match.group(1)
        if dialect == "postgresql":
            return f"CAST({instant} AT TIME ZONE 'UTC' AS date)"
        return f"date({instant})"

    return re.sub(r"UTC_DATE\(([^()]*)\)", written, sql)


# An appointment is on the page once booked: not while a hold, nor once the hold expired.
_BOOKED = "{row}.status NOT IN ('held', 'expired')"


@dataclass(frozen=True)
class Watch:
    """A table the day page reads: what a state `{row}` (OLD or NEW) of one of its rows
    touches, as a SELECT of `office` (and `day`, a UTC date, for a day's counter); the
    columns whose change matters (none: any update); and when the row is shown at all."""

    table: str
    touches: str
    scope: str = "day"  # "day" or "office"
    columns: tuple[str, ...] = ()
    shown: str = ""
    events: tuple[str, ...] = ("insert", "update", "delete")


WATCHES: tuple[Watch, ...] = (
    Watch(
        "appointment",
        "SELECT {row}.office_id AS office, UTC_DATE({row}.starts_at) AS day",
        columns=(
            "office_id",
            "starts_at",
            "status",
            "reference",
            "given_name",
            "family_name",
            "iin",
        ),
        shown=_BOOKED,
    ),
    # A hold's service lines are written while it is held: the line's appointment is looked
    # up (at the commit, on PostgreSQL) and counts only once booked, when its own change of
    # status has raised the day anyway.
    Watch(
        "appointment_service",
        "SELECT a.office_id AS office, UTC_DATE(a.starts_at) AS day FROM appointment a"
        " WHERE a.id = {row}.appointment_id AND " + _BOOKED.replace("{row}", "a"),
    ),
    Watch("ticket", "SELECT {row}.office_id AS office, {row}.service_day AS day"),
    # The walk-in places left today.
    Watch(
        "ticket_counter",
        "SELECT {row}.office_id AS office, {row}.service_day AS day",
        columns=("walk_in_slots",),
        shown="{row}.walk_in_slots <> 0",
    ),
    # Today's desk-slots, of which the walk-in share is kept (not `booked`: holds change it).
    Watch(
        "slot",
        "SELECT {row}.office_id AS office, UTC_DATE({row}.starts_at) AS day",
        columns=("office_id", "starts_at", "desks", "outside_schedule"),
    ),
    Watch("desk", "SELECT {row}.office_id AS office", scope="office"),
    # The services a desk serves: its count of those waiting.
    Watch(
        "desk_service",
        "SELECT d.office_id AS office FROM desk d WHERE d.id = {row}.desk_id",
        scope="office",
    ),
    Watch("office_service", "SELECT {row}.office_id AS office", scope="office"),
    # A new service is nowhere yet, and one deleted leaves its offices through office_service.
    Watch(
        "service_type",
        "SELECT s.office_id AS office FROM office_service s WHERE s.service_type_id = {row}.id",
        scope="office",
        columns=("name", "is_active", "sort_order"),
        events=("update",),
    ),
    Watch(
        "office",
        "SELECT {row}.id AS office",
        scope="office",
        columns=("code", "name", "timezone", "walk_in_share"),
        events=("update",),
    ),
)


def _raise(watch: Watch, dialect: str, rows: tuple[str, ...]) -> str:
    """SQL: raise once each counter that the states `rows` (OLD, NEW or both) of a row
    touch, of offices that still exist (an office deleted takes its counters with it)."""
    touched = " UNION ".join(_utc_dates(dialect, watch.touches.format(row=row)) for row in rows)
    if watch.scope == "office":
        table, columns, key = "office_page_version", "t.office", "office_id"
    else:
        table, columns, key = "day_page_version", "t.office, t.day", "office_id, day"
    # `WHERE true` tells SQLite that ON CONFLICT belongs to the INSERT, not to the join.
    return (
        f"INSERT INTO {table} ({key}, version) SELECT {columns}, 1 FROM ({touched}) AS t"
        " JOIN office ON office.id = t.office WHERE true"
        f" ON CONFLICT ({key}) DO UPDATE SET version = {table}.version + 1"
    )


def _conditions(watch: Watch, dialect: str) -> dict[str, str]:
    """The WHEN condition of each event's trigger ('' for none)."""

    def shown(row: str) -> str:
        return f"({watch.shown.format(row=row)})" if watch.shown else ""

    # PostgreSQL's json has no equality: columns are compared as text.
    def differs(column: str) -> str:
        if dialect == "postgresql":
            return f"CAST(OLD.{column} AS text) IS DISTINCT FROM CAST(NEW.{column} AS text)"
        return f"OLD.{column} IS NOT NEW.{column}"

    changed = " OR ".join(differs(column) for column in watch.columns)
    either = f"{shown('OLD')} OR {shown('NEW')}" if watch.shown else ""
    update = " AND ".join(f"({part})" for part in (either, changed) if part)
    return {"insert": shown("NEW"), "update": update, "delete": shown("OLD")}


def _event(watch: Watch, event: str) -> str:
    if event == "update" and watch.columns:
        return f"UPDATE OF {', '.join(watch.columns)}"
    return event.upper()


def trigger_statements(dialect: str) -> list[str]:
    """The DDL that creates the triggers raising the page versions, for a dialect."""
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no page version triggers for {dialect}")
    created: list[str] = []
    for watch in WATCHES:
        table = watch.table
        conditions = _conditions(watch, dialect)
        if dialect == "postgresql":
            # OLD is NULL in an INSERT's trigger and NEW in a DELETE's: they touch nothing.
            created.append(
                f"CREATE FUNCTION raise_page_versions_of_{table}() RETURNS trigger"
                f" LANGUAGE plpgsql AS $$ BEGIN {_raise(watch, dialect, ('OLD', 'NEW'))};"
                " RETURN NULL; END $$"
            )
        for event in watch.events:
            condition = conditions[event]
            if dialect == "postgresql":
                when = f" WHEN ({condition})" if condition else ""
                created.append(
                    f"CREATE CONSTRAINT TRIGGER raise_page_versions_{event}"
                    f" AFTER {_event(watch, event)} ON {table}"
                    f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{when}"
                    f" EXECUTE FUNCTION raise_page_versions_of_{table}()"
                )
            else:
                when = f" WHEN {condition}" if condition else ""
                states = {"insert": ("NEW",), "update": ("OLD", "NEW"), "delete": ("OLD",)}
                created.append(
                    f"CREATE TRIGGER raise_page_versions_{table}_{event}"
                    f" AFTER {_event(watch, event)} ON {table} FOR EACH ROW{when}"
                    f" BEGIN {_raise(watch, dialect, states[event])}; END"
                )
    return created


def drop_trigger_statements(dialect: str) -> list[str]:
    """The DDL that removes what trigger_statements creates."""
    dropped: list[str] = []
    for watch in WATCHES:
        for event in watch.events:
            dropped.append(
                f"DROP TRIGGER IF EXISTS raise_page_versions_{event} ON {watch.table}"
                if dialect == "postgresql"
                else f"DROP TRIGGER IF EXISTS raise_page_versions_{watch.table}_{event}"
            )
        if dialect == "postgresql":
            dropped.append(f"DROP FUNCTION IF EXISTS raise_page_versions_of_{watch.table}()")
    return dropped


@sa.event.listens_for(Base.metadata, "after_create")
def _create_triggers(target: sa.MetaData, connection: sa.Connection, **kw: Any) -> None:
    for statement in trigger_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


@sa.event.listens_for(Base.metadata, "after_drop")
def _drop_trigger_functions(target: sa.MetaData, connection: sa.Connection, **kw: Any) -> None:
    # Triggers go with their tables; PostgreSQL keeps the functions they ran.
    if connection.dialect.name == "postgresql":
        for watch in WATCHES:
            connection.exec_driver_sql(
                f"DROP FUNCTION IF EXISTS raise_page_versions_of_{watch.table}()"
            )
