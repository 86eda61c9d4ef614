"""What the citizen pages need to know about a visit being chosen: office, services, month."""

from __future__ import annotations

import calendar
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import abort, session

from consular.availability_cache import seat_reader
from consular.database import SessionLike
from consular.models import LotteryRelease, Office, ServiceType
from consular.services import booking_request
from consular.services.availability import (
    StartTime,
    VisitRules,
    first_free_start_times,
    visit_start_times,
)
from consular.services.lottery_days import covering_releases

MAX_REMEMBERED_APPOINTMENTS = 5  # of each kind: appointments, lottery and waiting-list entries
# When this browser's booking journey began (a POSIX timestamp), for the review of bookings.
JOURNEY_STARTED = "journey_started_at"


def office_or_404(db_session: SessionLike, code: str) -> Office:
    """The office with this code, or a 404 page."""
    office = db_session.scalar(sa.select(Office).where(Office.code == code))
    if office is None:
        abort(404)
    return office


def bookable_services(db_session: SessionLike, office: Office) -> list[ServiceType]:
    """The active services this office offers online."""
    return list(db_session.scalars(booking_request.online_services_query(office.id)))


def chosen_services(db_session: SessionLike, office: Office, raw: str | None) -> list[ServiceType]:
    """The listed services if all are offered here and may share one visit; else []."""
    codes = [c for c in (raw or "").split(",") if c]
    if booking_request.service_codes_problem(codes):
        return []
    offered = {s.code: s for s in bookable_services(db_session, office)}
    if any(code not in offered for code in codes):
        return []
    chosen = [offered[c] for c in codes]
    return [] if booking_request.combination_problem(chosen) else chosen


@dataclass(frozen=True)
class MonthView:
    """A month calendar: weeks of days, each with how many start times are free."""

    month: date
    weeks: list[list[date | None]]
    free_by_day: dict[date, int]
    times_by_day: dict[date, list[StartTime]]
    previous_month: date | None
    next_month: date | None
    # The lottery releases that give out some of the month's days for these services.
    releases: list[LotteryRelease]

    def first_free_day(self) -> date | None:
        return next((day for day, free in self.free_by_day.items() if free), None)


def month_view(
    db_session: SessionLike,
    office: Office,
    rules: VisitRules,
    month: date,
    now: datetime,
) -> MonthView:
    """Free start times for each day of a month, in one availability query."""
    today = now.astimezone(office.zone).date()
    first_month = today.replace(day=1)
    last_day = rules.last_day(office, now)
    last_month = last_day.replace(day=1)
    month = min(max(month.replace(day=1), first_month), last_month)
    month_end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    # Read from today, before the free times of the month and the next free times, which
    # then reuse what was read for the days a lottery keeps off sale.
    releases = [
        release
        for release in covering_releases(
            db_session, office, rules.service_ids, min(today, month), month_end
        )
        if release.last_day >= month
    ]
    starts = visit_start_times(
        db_session, office, rules, month, month_end, now, read_seats=seat_reader()
    )
    times: OrderedDict[date, list[StartTime]] = OrderedDict()
    for start in starts:
        times.setdefault(start.starts_at.astimezone(office.zone).date(), []).append(start)
    free = {day: sum(1 for s in options if s.available > 0) for day, options in times.items()}
    weeks = [
        [day if day.month == month.month else None for day in week]
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    ]
    previous = (month - timedelta(days=1)).replace(day=1)
    following = month_end + timedelta(days=1)
    return MonthView(
        month=month,
        weeks=weeks,
        free_by_day=free,
        times_by_day=dict(times),
        previous_month=previous if previous >= first_month else None,
        next_month=following if following <= last_month else None,
        releases=releases,
    )


def next_free_times(
    db_session: SessionLike,
    office: Office,
    rules: VisitRules,
    now: datetime,
    *,
    around: datetime | None = None,
    limit: int = 6,
) -> list[StartTime]:
    """The first free start times (after `around`, if given), over the booking horizon."""
    today = now.astimezone(office.zone).date()
    first = (around or now).astimezone(office.zone).date() if around else today
    if around is None:
        return first_free_start_times(
            db_session,
            office,
            rules,
            first,
            rules.last_day(office, now),
            now,
            limit,
            read_seats=seat_reader(),
        )
    options = visit_start_times(
        db_session, office, rules, first, rules.last_day(office, now), now, read_seats=seat_reader()
    )
    free = [o for o in options if o.available > 0]
    free.sort(key=lambda o: abs((o.starts_at - around).total_seconds()))
    return sorted(free[:limit], key=lambda o: o.starts_at)


def remember_in_session(kind: str, reference: str, token: str) -> None:
    """Let this browser open what the token opens (an appointment, a lottery or waiting-list
    entry) without the emailed link; only the newest few of each kind are kept."""
    tokens = dict(session.get(kind, {}))
    tokens.pop(reference, None)
    tokens[reference] = token
    while len(tokens) > MAX_REMEMBERED_APPOINTMENTS:
        tokens.pop(next(iter(tokens)))
    session[kind] = tokens


def remembered_in_session(kind: str, reference: str) -> str:
    """The token of that kind this browser holds for the reference, or ''."""
    return str(session.get(kind, {}).get(reference, ""))


def remember_token(reference: str, token: str) -> None:
    """Let this browser manage the appointment without the emailed link."""
    remember_in_session("manage", reference, token)


def remembered_token(reference: str) -> str:
    """The manage token this browser holds for the appointment, or ''."""
    return remembered_in_session("manage", reference)


def start_journey_clock(now: datetime) -> None:
    """Note the moment of the journey's first page, unless this browser's journey has one."""
    started = session.get(JOURNEY_STARTED)
    if not isinstance(started, int | float) or isinstance(started, bool):
        session[JOURNEY_STARTED] = now.timestamp()


def journey_seconds(now: datetime) -> float | None:
    """Seconds since the journey's first page, or None if this browser saw none."""
    started = session.get(JOURNEY_STARTED)
    if not isinstance(started, int | float) or isinstance(started, bool):
        return None
    return now.timestamp() - started


def restart_journey_clock(now: datetime) -> None:
    """A hold ends a journey: the browser's next one is timed from now."""
    session[JOURNEY_STARTED] = now.timestamp()


def parse_month(raw: str | None, default: date) -> date:
    """A month given as YYYY-MM, or the default."""
    try:
        year, month = (int(part) for part in (raw or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        return default


def parse_day(raw: str | None) -> date | None:
    """A day given as YYYY-MM-DD, or None."""
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        return None
