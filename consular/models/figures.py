"""Daily figures: what the reports count on each local day of an office, stored once the
day is over so that a year's report reads 366 rows instead of a year of visits.

A figure is a cache of `consular.services.reports.compute_days` for one office and day,
and must never disagree with it. The database keeps that true: a trigger on every table
the report reads deletes the figures of the days a change touches, in the same
transaction, whoever writes (the queue, the booking core, a manager, a script). A deleted
figure is simply computed again from the visits, by the report until `flask reports
rollup` stores it anew.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consular.models.base import Base, UTCDateTime


class DurationSamples(sa.types.TypeDecorator[list[float]]):
    """Durations in whole microseconds, stored sorted as little-endian 64-bit floats.

    Eight bytes a sample, decoded without parsing (a day's thousand lead times are read in
    microseconds, where JSON text would take most of the report's time), and exact: a
    whole number of microseconds is a float exactly up to 2**53 (285 years). Floats, not
    integers, because Python sorts a list of floats twice as fast as one of integers that
    large, and the report's medians sort a year of them.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Iterable[float] | None, dialect: sa.Dialect) -> bytes:
        packed = array("d", sorted(value or ()))
        if sys.byteorder == "big":
            packed.byteswap()
        return packed.tobytes()

    def process_result_value(self, value: bytes | None, dialect: sa.Dialect) -> list[float]:
        packed = array("d")
        packed.frombytes(bytes(value or b""))
        if sys.byteorder == "big":
            packed.byteswap()
        return packed.tolist()


class FigureColumns:
    """The counts and time samples a day figure has for the day and for each service."""

    bookings: Mapped[int] = mapped_column(default=0)
    cancellations: Mapped[int] = mapped_column(default=0)
    attended: Mapped[int] = mapped_column(default=0)
    no_shows: Mapped[int] = mapped_column(default=0)
    pending: Mapped[int] = mapped_column(default=0)
    walk_ins: Mapped[int] = mapped_column(default=0)
    lead_samples: Mapped[list[float]] = mapped_column(DurationSamples, default=list)
    wait_samples: Mapped[list[float]] = mapped_column(DurationSamples, default=list)
    service_samples: Mapped[list[float]] = mapped_column(DurationSamples, default=list)


COUNT_NAMES = ("bookings", "cancellations", "attended", "no_shows", "pending", "walk_ins")
SAMPLE_NAMES = ("lead", "wait", "service")


class DailyFigure(FigureColumns, Base):
    """One office's local day as the report counts it (see services/reports.py).

    The UTC bounds say which instants the figure counted: the report uses it only while
    they are still the day's bounds in the office's zone (a new zone, or new time-zone
    rules, make it count another stretch of time). `computed_at` is empty while the
    roll-up has reserved the day but not yet counted it.
    """

    __tablename__ = "daily_figure"
    __table_args__ = (
        sa.UniqueConstraint("office_id", "day"),
        sa.CheckConstraint("day_starts_at < day_ends_at", name="day_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(sa.ForeignKey("office.id", ondelete="CASCADE"))
    day: Mapped[date]
    day_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    day_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seats_offered: Mapped[int] = mapped_column(default=0)
    seats_booked: Mapped[int] = mapped_column(default=0)


class DailyServiceFigure(FigureColumns, Base):
    """What one service adds to a day figure (only services that have something that day)."""

    __tablename__ = "daily_service_figure"

    # A service's figures go with it (a service with visits can't be deleted, so it has none).
    __table_args__ = (sa.Index("ix_daily_service_figure_service_type_id", "service_type_id"),)

    figure_id: Mapped[int] = mapped_column(
        sa.ForeignKey("daily_figure.id", ondelete="CASCADE"), primary_key=True
    )
    service_type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_type.id", ondelete="CASCADE"), primary_key=True
    )


@dataclass(frozen=True)
class Probe:
    """Where a row of a watched table says its day is, for a row state `{row}` (OLD or NEW):
    an instant of its own (`instant`, a column) or a local day (`day`), in the row's
    office; or `source`, a SELECT of (office, at) pairs reached from the row."""

    instant: str = ""
    day: str = ""
    source: str = ""

    def statement(self, dialect: str, row: str) -> str:
        """What forgets the figures of those days: one DELETE for each (office, instant)."""
        if self.day:
            return (
                f"DELETE FROM daily_figure WHERE office_id = {row}.office_id"
                f" AND day = {row}.{self.day}"
            )
        if self.instant:
            return _forget_instant(dialect, f"{row}.office_id", f"{row}.{self.instant}")
        source = self.source.format(row=row)
        if dialect == "postgresql":
            return (
                f"FOR probe IN {source} LOOP"
                f" {_forget_instant(dialect, 'probe.office', 'probe.at')}; END LOOP"
            )
        return (
            "DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM"
            f" ({source}) AS i JOIN daily_figure f ON {_covers(dialect, 'f', 'i.office', 'i.at')})"
        )


def _covers(dialect: str, figure: str, office: str, at: str) -> str:
    """SQL: the figure `figure` of `office` is of the local day of the instant `at`.

    Whatever the zone (UTC-12 to UTC+14), that day is the UTC day of the instant or one
    either side: that range of days lets both databases go straight to the figure through
    the unique index on (office_id, day), planned once, whatever the history's size (and
    for a write to today or a day to come, nearly every write, it finds none). The bounds
    then pick the one figure that counted the instant.
    """
    utc_day = f"CAST({at} AT TIME ZONE 'UTC' AS date)"
    days = (
        f"{utc_day} - 1 AND {utc_day} + 1"
        if dialect == "postgresql"
        else f"date({at}, '-1 day') AND date({at}, '+1 day')"
    )
    return (
        f"{figure}.office_id = {office} AND {figure}.day BETWEEN {days}"
        f" AND {figure}.day_ends_at > {at} AND {figure}.day_starts_at <= {at}"
    )


def _forget_instant(dialect: str, office: str, at: str) -> str:
    return f"DELETE FROM daily_figure WHERE {_covers(dialect, 'daily_figure', office, at)}"


@dataclass(frozen=True)
class Watch:
    """A table the report reads: the columns whose change matters, those that say which
    day a row is on (when they change, the day it leaves is forgotten too), where that day
    is, and (`relevant`, on `{row}`) whether the report counts the row at all."""

    table: str
    columns: tuple[str, ...]
    position: tuple[str, ...]
    probe: Probe
    relevant: str = ""


WATCHES: tuple[Watch, ...] = (
    # A booking's status and time decide its day's counts and lead time, and whether its
    # seats count as booked on their slots' days.
    # A hold never confirmed counts nowhere: placing and expiring holds fire nothing.
    Watch(
        "appointment",
        ("office_id", "starts_at", "status", "confirmed_at"),
        ("office_id", "starts_at"),
        Probe(
            source="SELECT {row}.office_id AS office, {row}.starts_at AS at UNION ALL"
            " SELECT slot.office_id, slot.starts_at FROM appointment_slot s"
            " JOIN slot ON slot.id = s.slot_id WHERE s.appointment_id = {row}.id"
        ),
        relevant="{row}.confirmed_at IS NOT NULL",
    ),
    Watch(
        "appointment_service",
        ("appointment_id", "service_type_id"),
        ("appointment_id",),
        Probe(
            source="SELECT a.office_id AS office, a.starts_at AS at FROM appointment a"
            " WHERE a.id = {row}.appointment_id"
        ),
    ),
    # Not holds_seat: a seat given back is a row the report never read differently.
    Watch(
        "appointment_slot",
        ("appointment_id", "slot_id", "release_at"),
        ("slot_id",),
        Probe(
            source="SELECT slot.office_id AS office, slot.starts_at AS at FROM slot"
            " WHERE slot.id = {row}.slot_id"
        ),
    ),
    # Not booked: the report counts seats from appointment_slot.
    Watch(
        "slot",
        ("office_id", "starts_at", "capacity", "is_blocked"),
        ("office_id", "starts_at"),
        Probe(instant="starts_at"),
    ),
    Watch(
        "ticket",
        (
            "office_id",
            "service_day",
            "service_type_id",
            "is_walk_in",
            "status",
            "arrived_at",
            "first_called_at",
            "finished_at",
        ),
        ("office_id", "service_day"),
        Probe(day="service_day"),
    ),
)


# The triggers of a watched table: each forgets the days of one state of the row (NEW
# when a row counts or counts differently, OLD when it leaves a day or stops counting).
ACTIONS = ("insert", "update", "leave", "delete")


def _actions(watch: Watch, dialect: str) -> list[tuple[str, str, str, str]]:
    """(action, event, condition, state) of each trigger of a watched table."""

    def counts(row: str) -> str:
        return f"({watch.relevant.format(row=row)})" if watch.relevant else ""

    differs = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    moved = " OR ".join(f"OLD.{column} {differs} NEW.{column}" for column in watch.position)
    leaves = f"{counts('OLD')} AND ({moved} OR NOT {counts('NEW')})" if watch.relevant else moved
    changed = f"UPDATE OF {', '.join(watch.columns)}"
    return [
        ("insert", "INSERT", counts("NEW"), "NEW"),
        ("update", changed, counts("NEW"), "NEW"),
        ("leave", changed, leaves, "OLD"),
        ("delete", "DELETE", counts("OLD"), "OLD"),
    ]


def trigger_statements(dialect: str) -> list[str]:
    """The DDL that creates the triggers forgetting stale figures, for a dialect."""
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no figure triggers for {dialect}")
    created: list[str] = []
    for watch in WATCHES:
        table = watch.table
        if dialect == "postgresql":
            created.append(
                f"CREATE FUNCTION forget_figures_of_{table}() RETURNS trigger"
                " LANGUAGE plpgsql AS $$ DECLARE probe record; BEGIN"
                f" IF TG_ARGV[0] = 'OLD' THEN {watch.probe.statement(dialect, 'OLD')};"
                f" ELSE {watch.probe.statement(dialect, 'NEW')}; END IF;"
                " RETURN NULL; END $$"
            )
        for action, event, condition, state in _actions(watch, dialect):
            if dialect == "postgresql":
                when = f" WHEN ({condition})" if condition else ""
                created.append(
                    f"CREATE TRIGGER forget_figures_{action} AFTER {event} ON {table}"
                    f" FOR EACH ROW{when} EXECUTE FUNCTION forget_figures_of_{table}('{state}')"
                )
            else:
                when = f" WHEN {condition}" if condition else ""
                created.append(
                    f"CREATE TRIGGER forget_figures_{table}_{action} AFTER {event} ON {table}"
                    f" FOR EACH ROW{when} BEGIN {watch.probe.statement(dialect, state)}; END"
                )
    return created


def drop_trigger_statements(dialect: str) -> list[str]:
    """The DDL that removes what trigger_statements creates."""
    dropped: list[str] = []
    for watch in WATCHES:
        for action in ACTIONS:
            dropped.append(
                f"DROP TRIGGER IF EXISTS forget_figures_{action} ON {watch.table}"
                if dialect == "postgresql"
                else f"DROP TRIGGER IF EXISTS forget_figures_{watch.table}_{action}"
            )
        if dialect == "postgresql":
            dropped.append(f"DROP FUNCTION IF EXISTS forget_figures_of_{watch.table}()")
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
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS forget_figures_of_{watch.table}()")
