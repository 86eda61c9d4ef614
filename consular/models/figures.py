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
        # The triggers find the figures of an instant: for a write to today's or a future
        # day (nearly every write) this range is empty, a single probe of the index.
        sa.Index("ix_daily_figure_office_ends_at", "office_id", "day_ends_at"),
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


# The triggers. Each statement forgets the figures of the day a row of a watched table
# belongs to, as the report counts it; `{row}` is OLD or NEW.
_INSTANT_DAY = (
    "DELETE FROM daily_figure WHERE office_id = {row}.office_id"
    " AND day_ends_at > {row}.starts_at AND day_starts_at <= {row}.starts_at"
)
_SEAT_DAYS = (
    "DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM appointment_slot s"
    " JOIN slot ON slot.id = s.slot_id JOIN daily_figure f ON f.office_id = slot.office_id"
    " AND f.day_ends_at > slot.starts_at AND f.day_starts_at <= slot.starts_at"
    " WHERE s.appointment_id = {row}.id)"
)
_APPOINTMENT_DAY = (
    "DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM appointment a"
    " JOIN daily_figure f ON f.office_id = a.office_id"
    " AND f.day_ends_at > a.starts_at AND f.day_starts_at <= a.starts_at"
    " WHERE a.id = {row}.appointment_id)"
)
_SLOT_DAY = (
    "DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM slot"
    " JOIN daily_figure f ON f.office_id = slot.office_id"
    " AND f.day_ends_at > slot.starts_at AND f.day_starts_at <= slot.starts_at"
    " WHERE slot.id = {row}.slot_id)"
)
_TICKET_DAY = (
    "DELETE FROM daily_figure WHERE office_id = {row}.office_id AND day = {row}.service_day"
)


@dataclass(frozen=True)
class Watch:
    """A table the report reads: the columns whose change matters, and what to forget."""

    table: str
    columns: tuple[str, ...]
    statements: tuple[str, ...]


WATCHES: tuple[Watch, ...] = (
    # A booking's status and time decide its day's counts and lead time, and whether its
    # seats count as booked on their slots' days.
    Watch(
        "appointment",
        ("office_id", "starts_at", "status", "confirmed_at"),
        (_INSTANT_DAY, _SEAT_DAYS),
    ),
    Watch("appointment_service", ("appointment_id", "service_type_id"), (_APPOINTMENT_DAY,)),
    # Not holds_seat: a seat given back is a row the report never read differently.
    Watch("appointment_slot", ("appointment_id", "slot_id", "release_at"), (_SLOT_DAY,)),
    # Not booked: the report counts seats from appointment_slot.
    Watch("slot", ("office_id", "starts_at", "capacity", "is_blocked"), (_INSTANT_DAY,)),
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
        (_TICKET_DAY,),
    ),
)


def _body(statements: tuple[str, ...], row: str) -> str:
    return "".join(f"{statement.format(row=row)}; " for statement in statements)


def trigger_statements(dialect: str) -> list[str]:
    """The DDL that creates the triggers forgetting stale figures, for a dialect."""
    created: list[str] = []
    for watch in WATCHES:
        columns = ", ".join(watch.columns)
        if dialect == "postgresql":
            created.append(
                f"CREATE FUNCTION forget_figures_of_{watch.table}() RETURNS trigger"
                " LANGUAGE plpgsql AS $$ BEGIN"
                f" IF TG_OP <> 'INSERT' THEN {_body(watch.statements, 'OLD')}END IF;"
                f" IF TG_OP <> 'DELETE' THEN {_body(watch.statements, 'NEW')}END IF;"
                " RETURN NULL; END $$"
            )
            created.append(
                f"CREATE TRIGGER forget_figures AFTER INSERT OR UPDATE OF {columns} OR DELETE"
                f" ON {watch.table} FOR EACH ROW EXECUTE FUNCTION"
                f" forget_figures_of_{watch.table}()"
            )
        elif dialect == "sqlite":
            for event, rows in (
                ("INSERT", ("NEW",)),
                (f"UPDATE OF {columns}", ("OLD", "NEW")),
                ("DELETE", ("OLD",)),
            ):
                name = f"forget_figures_{watch.table}_{event.split()[0].lower()}"
                body = "".join(_body(watch.statements, row) for row in rows)
                created.append(
                    f"CREATE TRIGGER {name} AFTER {event} ON {watch.table}"
                    f" FOR EACH ROW BEGIN {body}END"
                )
        else:
            raise NotImplementedError(f"no figure triggers for {dialect}")
    return created


def drop_trigger_statements(dialect: str) -> list[str]:
    """The DDL that removes what trigger_statements creates."""
    dropped: list[str] = []
    for watch in WATCHES:
        if dialect == "postgresql":
            dropped.append(f"DROP TRIGGER IF EXISTS forget_figures ON {watch.table}")
            dropped.append(f"DROP FUNCTION IF EXISTS forget_figures_of_{watch.table}()")
        else:
            for event in ("insert", "update", "delete"):
                dropped.append(f"DROP TRIGGER IF EXISTS forget_figures_{watch.table}_{event}")
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
