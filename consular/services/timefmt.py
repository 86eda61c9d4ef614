"""Dates and times as a citizen reads them: in the office's zone, in their language.

Each text is kept once made: pages show the same few days and times again and again, and
Babel's formatting is a good part of what rendering them costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_name

if TYPE_CHECKING:
    from consular.models import Office


def iso_day(text: object) -> date | None:
    """The day an answer such as "2027-03-01" names, or None when it names none."""
    try:
        return date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def zone_label(zone: tzinfo, at: datetime, locale: str) -> str:
    """The zone's name in the citizen's language, e.g. "Korean Standard Time"."""
    return get_timezone_name(at.astimezone(zone), width="long", locale=locale)


@lru_cache(maxsize=8192)
def local_date_text(at: datetime, zone: tzinfo, locale: str) -> str:
    """A full date in the office's zone, e.g. "Tuesday, 1 December 2026"."""
    return format_date(at.astimezone(zone).date(), format="full", locale=locale)


@lru_cache(maxsize=8192)
def local_time_text(at: datetime, zone: tzinfo, locale: str) -> str:
    """A time of day in the office's zone, e.g. "09:30"."""
    return format_time(at.astimezone(zone), format="HH:mm", locale=locale)


@lru_cache(maxsize=8192)
def day_text(day: date, locale: str, form: str = "full") -> str:
    """A calendar day in the citizen's language ("full", "long", "medium" or a pattern)."""
    return format_date(day, format=form, locale=locale)


@lru_cache(maxsize=8192)
def month_text(day: date, locale: str) -> str:
    """A month and year as a calendar heading, e.g. "December 2026"."""
    return format_skeleton("yMMMM", day, locale=locale)


@lru_cache(maxsize=8192)
def weekday_names(locale: str) -> tuple[tuple[str, str], ...]:
    """Monday to Sunday as (abbreviation, full name) in the citizen's language."""
    parsed = Locale.parse(locale)
    short = parsed.days["format"]["abbreviated"]
    full = parsed.days["format"]["wide"]
    return tuple((short[i], full[i]) for i in range(7))


def opening_hours(
    office: Office, weekday_names: Sequence[tuple[str, str]], week_from: date
) -> list[tuple[str, str]]:
    """The opening hours of the week that starts on `week_from`, as lines such as
    ("Mon–Fri", "09:00–12:30, 14:00–17:00").

    Each weekday takes the periods in force on its own day of that week, so a page shows the
    hours that hold now and a confirmation the hours of the visit's week, even when a manager
    has already entered the hours of a later season."""
    by_day: dict[int, str] = {}
    for weekday in range(7):
        day = week_from + timedelta(days=(weekday - week_from.weekday()) % 7)
        periods = [p for p in office.opening_periods if p.weekday == weekday and p.applies_on(day)]
        if periods:
            by_day[weekday] = ", ".join(
                f"{p.opens_at:%H:%M}–{p.closes_at:%H:%M}"
                for p in sorted(periods, key=lambda p: p.opens_at)
            )
    lines: list[tuple[str, str]] = []
    run_start = None
    for weekday in range(8):
        hours = by_day.get(weekday) if weekday < 7 else None
        if run_start is not None and (hours != by_day[run_start] or weekday == 7):
            end = weekday - 1
            days = weekday_names[run_start][0]
            if end != run_start:
                days = f"{days}–{weekday_names[end][0]}"
            lines.append((days, by_day[run_start]))
            run_start = None
        if hours is not None and run_start is None:
            run_start = weekday
    return lines
