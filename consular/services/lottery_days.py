"""Which days a lottery gives out, for the first-come paths (availability and holds) to leave
alone. Kept apart from services/lottery.py, which books through the booking service: this
module depends on the models alone, so availability and booking can ask it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from consular.database import SessionLike
from consular.models import LotteryRelease, Office, lottery_release_service
from consular.models.lottery import RESERVING_STATES
from consular.services.errors import ByLottery
from consular.services.timefmt import local_date_text, local_time_text

# session.info key of the releases already read in this transaction, per office and services.
_MEMO_KEY = "consular.reserving_releases"


@lru_cache(maxsize=1)
def _reserving_query() -> sa.Select:
    """Releases of an office that keep some of the services' days off first-come sale, those
    not over before `from_day`; parameters `office_id`, `service_ids` and `from_day`. Built
    once: a hold asks it every time."""
    return (
        sa.select(LotteryRelease)
        .where(
            LotteryRelease.office_id == sa.bindparam("office_id"),
            LotteryRelease.state.in_(RESERVING_STATES),
            LotteryRelease.last_day >= sa.bindparam("from_day", type_=sa.Date),
            LotteryRelease.id.in_(
                sa.select(lottery_release_service.c.release_id).where(
                    lottery_release_service.c.service_type_id.in_(
                        sa.bindparam("service_ids", expanding=True)
                    )
                )
            ),
        )
        .order_by(LotteryRelease.first_day, LotteryRelease.id)
    )


def _reserving_releases(
    session: SessionLike, office_id: int, service_ids: Collection[int], from_day: date
) -> list[LotteryRelease]:
    """The office's reserving releases for any of the services that end on `from_day` or
    later, soonest first. Read once per request and transaction: a page that asks for its
    calendar's releases and then for the days they keep costs one statement, and any flush,
    the transaction's end or the request's end forgets what was read."""
    key = (office_id, tuple(sorted(service_ids)))
    memo: dict = session.info.setdefault(_MEMO_KEY, {})
    known = memo.get(key)
    if known is not None and known[0] <= from_day:
        return [r for r in known[1] if r.last_day >= from_day]
    releases = list(
        session.scalars(
            _reserving_query(),
            {"office_id": office_id, "service_ids": list(key[1]), "from_day": from_day},
        )
    )
    memo[key] = (from_day, releases)
    return releases


@sa.event.listens_for(Session, "after_flush")
@sa.event.listens_for(Session, "after_transaction_end")
def _forget_on_change(session: Session, *_args: object) -> None:
    forget_releases(session)


def forget_releases(session: SessionLike) -> None:
    """Forget the releases read so far; the app calls it at the end of every request too, as
    a session can outlive a request where an application context is kept (tests, commands)."""
    session.info.pop(_MEMO_KEY, None)


def covering_releases(
    session: SessionLike,
    office: Office,
    service_ids: Collection[int],
    first_day: date,
    last_day: date,
) -> list[LotteryRelease]:
    """The releases that give out some of the days between the two for any of the services,
    soonest first: what a calendar of those days should tell about."""
    if not service_ids or last_day < first_day:
        return []
    releases = _reserving_releases(session, office.id, service_ids, first_day)
    return [r for r in releases if r.first_day <= last_day]


def lottery_days(
    session: SessionLike,
    office_id: int,
    service_ids: Collection[int],
    first_day: date,
    last_day: date,
) -> set[date]:
    """The office's local days between the two (both included) that a lottery gives out for
    any of the services: not on first-come sale for a visit that includes one of them."""
    if not service_ids or last_day < first_day:
        return set()
    days: set[date] = set()
    for release in _reserving_releases(session, office_id, service_ids, first_day):
        day = max(first_day, release.first_day)
        while day <= min(last_day, release.last_day):
            days.add(day)
            day += timedelta(days=1)
    return days


def refuse_lottery_start(
    session: SessionLike, office: Office, starts_at: datetime, service_ids: Collection[int]
) -> None:
    """Raise ByLottery when a visit for these services starting then falls on a day that a
    lottery gives out, saying when its entries are taken and when it is drawn."""
    if not service_ids:
        return
    day = starts_at.astimezone(office.zone).date()
    release = next(
        (
            r
            for r in _reserving_releases(session, office.id, service_ids, day)
            if r.first_day <= day
        ),
        None,
    )
    if release is None:
        return
    locale = str(get_locale() or "en")
    zone = office.zone

    def moment(at: datetime) -> str:
        return f"{local_date_text(at, zone, locale)} {local_time_text(at, zone, locale)}"

    raise ByLottery(
        _(
            "Appointments on this day are given out by a lottery draw, not to the first to "
            "book. Entries are taken from %(opens)s to %(closes)s; the draw is on %(draw)s.",
            opens=moment(release.opens_at),
            closes=moment(release.closes_at),
            draw=moment(release.draw_at),
        ),
        "start",
    )
