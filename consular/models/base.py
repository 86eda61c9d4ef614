"""Declarative base, naming convention and the UTC datetime column type."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

from consular.steady_clock import steady_now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now_utc() -> datetime:
    """Return the current time as an aware UTC datetime, from the process's steady clock
    (a step of the system clock reaches it only once it has lasted; consular/steady_clock.py)."""
    return steady_now()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A datetime stored in UTC that refuses naive values and always loads aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused; pass an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite keeps text: store UTC without an offset so that string order is time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def status_enum(enum: type[StrEnum]) -> sa.Enum:
    """A status column's type: text in the database, refused by a CHECK unless it is one
    of the enum's values, loaded as the enum member."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=True,
        length=16,
        name="status_known",
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Base of every model, with constraint names that migrations can rely on."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
