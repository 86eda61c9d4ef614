"""Dates and times as a citizen reads them: in the office's zone, in their language."""

from __future__ import annotations

from datetime import datetime, tzinfo

from babel.dates import format_date, format_time, get_timezone_name


def zone_label(zone: tzinfo, at: datetime, locale: str) -> str:
    """The zone's name in the citizen's language, e.g. "Korean Standard Time"."""
    return get_timezone_name(at.astimezone(zone), width="long", locale=locale)


def local_date_text(at: datetime, zone: tzinfo, locale: str) -> str:
    """A full date in the office's zone, e.g. "Tuesday, 1 December 2026"."""
    return format_date(at.astimezone(zone).date(), format="full", locale=locale)


def local_time_text(at: datetime, zone: tzinfo, locale: str) -> str:
    """A time of day in the office's zone, e.g. "09:30"."""
    return format_time(at.astimezone(zone), format="HH:mm", locale=locale)
