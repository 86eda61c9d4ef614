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

from consular.database import SessionLike
from consular.models import LotteryRelease, Office, lottery_release_service
from consular.models.lottery import RESERVING_STATES
from consular.services.errors import ByLottery
from consular.services.timefmt import local_date_text, local_time_text


@lru_cache(maxsize=1)
def _covering_query() -> sa.Select:
    """Releases of an office that keep some of the services' days in a range off first-come
    sale; parameters `office_id`, `service_ids`, `first_day` and `last_day`. Built once: a
    hold asks it every time."""
    return (
        sa.select(LotteryRelease.id, LotteryRelease.first_day, LotteryRelease.last_day)
        .where(
            LotteryRelease.office_id == sa.bindparam("office_id"),
            LotteryRelease.state.in_(RESERVING_STATES),
            LotteryRelease.first_day <= sa.bindparam("last_day", type_=sa.Date),
            LotteryRelease.last_day >= sa.bindparam("first_day", type_=sa.Date),
            LotteryRelease.id.in_(
                sa.select(lottery_release_service.c.release_id).where(
                    lottery_release_service.c.service_type_id.in_(
                        sa.bindparam("service_ids", expanding=True)
                    )
                )
            ),
        )
        .order_by(LotteryRelease.first_day)
    )


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
    rows = session.execute(
        _covering_query(),
        {
            "office_id": office_id,
            "service_ids": sorted(service_ids),
            "first_day": first_day,
            "last_day": last_day,
        },
    )
    days: set[date] = set()
    for row in rows:
        day = max(first_day, row.first_day)
        while day <= min(last_day, row.last_day):
            days.add(day)
            day += timedelta(days=1)
    return days


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
    ids = session.scalars(
        _covering_query().with_only_columns(LotteryRelease.id),
        {
            "office_id": office.id,
            "service_ids": sorted(service_ids),
            "first_day": first_day,
            "last_day": last_day,
        },
    ).all()
    if not ids:
        return []
    return list(
        session.scalars(
            sa.select(LotteryRelease)
            .where(LotteryRelease.id.in_(ids))
            .order_by(LotteryRelease.first_day, LotteryRelease.id)
        )
    )


def refuse_lottery_start(
    session: SessionLike, office: Office, starts_at: datetime, service_ids: Collection[int]
) -> None:
    """Raise ByLottery when a visit for these services starting then falls on a day that a
    lottery gives out, saying when its entries are taken and when it is drawn."""
    if not service_ids:
        return
    day = starts_at.astimezone(office.zone).date()
    found = session.execute(
        _covering_query(),
        {
            "office_id": office.id,
            "service_ids": sorted(service_ids),
            "first_day": day,
            "last_day": day,
        },
    ).first()
    if found is None:
        return
    release = session.get(LotteryRelease, found.id)
    assert release is not None  # just read
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
