"""Changing opening hours: a period changed in place from a day on, a break in one step, and a
removal only once confirmed. No booking is ever listed as "to decide" by a change that keeps it
inside the schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, OpeningPeriod, Slot
from consular.services import schedule
from consular.services.errors import ValidationFailed
from tests.staff.conftest import book, sign_in

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY = date(2026, 11, 30)
LATER_MONDAY = date(2026, 12, 14)


def _starts(office, day: date) -> list[str]:
    """The local start times of the day's slots."""
    slots = db.session.scalars(
        sa.select(Slot).where(Slot.office_id == office.id).order_by(Slot.starts_at)
    )
    return [
        f"{s.starts_at.astimezone(SEOUL):%H:%M}"
        for s in slots
        if s.starts_at.astimezone(SEOUL).date() == day
    ]


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL).astimezone(UTC)


def _monday_morning(office) -> OpeningPeriod:
    return next(p for p in office.opening_periods if p.weekday == 0 and p.opens_at == time(9))


@pytest.fixture
def manager(app, accounts):
    client = app.test_client()
    assert sign_in(client, accounts["manager_seoul"].email).status_code == 302
    return client


def test_a_period_changed_from_a_later_day_keeps_the_days_before(
    app, offices, accounts, clock
) -> None:
    seoul, _ = offices
    period = _monday_morning(seoul)
    schedule.change_period(
        db.session,
        seoul,
        period.id,
        time(10),
        time(12, 30),
        3,
        LATER_MONDAY,
        accounts["manager_seoul"],
        clock(),
        60,
    )
    db.session.commit()
    assert _starts(seoul, date(2026, 12, 7))[0] == "09:00"
    assert _starts(seoul, LATER_MONDAY)[0] == "10:00"
    mondays = sorted(
        (
            (p.valid_from, p.valid_until, f"{p.opens_at:%H:%M}", p.desks)
            for p in seoul.opening_periods
            if p.weekday == 0 and p.closes_at == time(12, 30)
        ),
        key=lambda row: row[0] or date.min,
    )
    assert mondays == [
        (None, date(2026, 12, 13), "09:00", 2),
        (date(2026, 12, 14), None, "10:00", 3),
    ]


def test_a_change_from_today_edits_the_period_in_place(app, offices, accounts, clock) -> None:
    seoul, _ = offices
    period = _monday_morning(seoul)
    schedule.change_period(
        db.session, seoul, period.id, time(9), time(12), 2, None, None, clock(), 60
    )
    db.session.commit()
    mornings = [p for p in seoul.opening_periods if p.weekday == 0 and p.opens_at == time(9)]
    assert [(p.closes_at, p.valid_from, p.valid_until) for p in mornings] == [
        (time(12), None, None)
    ]
    assert "12:15" not in _starts(seoul, MONDAY + timedelta(days=7))


def test_a_longer_period_never_lists_its_bookings_for_a_decision(
    manager, offices, clock, iins
) -> None:
    seoul, _ = offices
    visit = book(seoul, _at(MONDAY, 10), next(iins), clock())
    period = _monday_morning(seoul)
    response = manager.post(
        f"/staff/seoul/schedule/periods/{period.id}",
        data={"change-opens_at": "08:30", "change-closes_at": "12:30", "change-desks": "2"},
        follow_redirects=True,
    )
    assert "The opening hours are saved and the slots updated." in response.text
    assert "decide below" not in response.text
    assert visit.reference not in response.text
    assert db.session.scalars(schedule.affected_appointments_query(seoul)).all() == []
    assert _starts(seoul, MONDAY + timedelta(days=7))[0] == "08:30"
    # One change, one audit entry: the hours never went through a state without the period.
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "opening_hours"))
        == 1
    )


def test_a_break_splits_a_period_in_one_step(manager, offices) -> None:
    seoul, _ = offices
    period = _monday_morning(seoul)
    response = manager.post(
        f"/staff/seoul/schedule/periods/{period.id}/break",
        data={"break-starts_at": "10:30", "break-ends_at": "11:00"},
    )
    assert response.status_code == 302
    starts = _starts(seoul, MONDAY + timedelta(days=7))
    assert "10:15" in starts and "11:00" in starts
    assert "10:30" not in starts and "10:45" not in starts
    mornings = sorted(
        (f"{p.opens_at:%H:%M}", f"{p.closes_at:%H:%M}", p.desks)
        for p in seoul.opening_periods
        if p.weekday == 0 and p.closes_at <= time(12, 30)
    )
    assert mornings == [("09:00", "10:30", 2), ("11:00", "12:30", 2)]


def test_a_break_outside_the_period_is_refused_by_its_field(manager, offices) -> None:
    seoul, _ = offices
    period = _monday_morning(seoul)
    response = manager.post(
        f"/staff/seoul/schedule/periods/{period.id}/break",
        data={"break-starts_at": "12:00", "break-ends_at": "13:00"},
    )
    assert response.status_code == 422
    assert "A break must begin after 09:00 and end before 12:30." in response.text
    assert (
        'aria-describedby="break-starts_at-error" aria-invalid="true" class="input" '
        'id="break-starts_at" name="break-starts_at" required type="time" value="12:00"'
    ) in response.text
    assert len([p for p in seoul.opening_periods if p.weekday == 0]) == 2


def test_bad_times_come_back_with_the_values_kept(manager, offices) -> None:
    seoul, _ = offices
    period = _monday_morning(seoul)
    response = manager.post(
        f"/staff/seoul/schedule/periods/{period.id}",
        data={"change-opens_at": "13:00", "change-closes_at": "nope", "change-desks": "0"},
    )
    assert response.status_code == 422
    assert 'value="13:00"' in response.text
    assert "Desks must be between 1 and 100." in response.text
    overlapping = manager.post(
        f"/staff/seoul/schedule/periods/{period.id}",
        data={"change-opens_at": "09:00", "change-closes_at": "15:00", "change-desks": "2"},
    )
    assert overlapping.status_code == 422
    assert "Two periods of the same day overlap." in overlapping.text


def test_a_period_is_removed_only_once_the_removal_is_confirmed(
    manager, offices, clock, iins
) -> None:
    seoul, _ = offices
    visit = book(seoul, _at(MONDAY + timedelta(days=7), 9, 30), next(iins), clock())
    period = _monday_morning(seoul)
    page = manager.get(f"/staff/seoul/schedule/periods/{period.id}").text
    assert "1 booked appointment falls in these hours" in page
    assert visit.reference in page
    refused = manager.post(f"/staff/seoul/schedule/periods/{period.id}/delete", data={})
    assert refused.status_code == 422
    assert "Tick the box to confirm the removal." in refused.text
    db.session.expire_all()
    assert any(p.id == period.id for p in seoul.opening_periods)
    assert "09:00" in _starts(seoul, MONDAY + timedelta(days=7))
    removed = manager.post(
        f"/staff/seoul/schedule/periods/{period.id}/delete",
        data={"remove-confirm": "y"},
        follow_redirects=True,
    )
    assert "decide below what happens to them" in removed.text
    assert visit.reference in removed.text  # listed now, for the manager to keep or cancel
    db.session.expire_all()
    assert not any(p.weekday == 0 and p.opens_at == time(9) for p in seoul.opening_periods)


def test_a_removal_from_a_later_day_keeps_the_days_before(
    app, offices, accounts, clock, iins
) -> None:
    seoul, _ = offices
    early = book(seoul, _at(date(2026, 12, 7), 9), next(iins), clock())
    late = book(seoul, _at(LATER_MONDAY, 9), next(iins), clock())
    period = _monday_morning(seoul)
    impact = db.session.scalars(
        schedule.removal_impact_query(seoul, period, LATER_MONDAY, clock())
    ).all()
    assert impact == [late]
    schedule.remove_period(db.session, seoul, period.id, LATER_MONDAY, None, clock(), 60)
    db.session.commit()
    assert db.session.scalars(schedule.affected_appointments_query(seoul)).all() == [late]
    assert "09:00" in _starts(seoul, date(2026, 12, 7))
    assert "09:15" not in _starts(seoul, LATER_MONDAY)  # 09:00 stays, booked: to decide
    assert early.reference


def test_a_change_after_the_period_ends_is_refused(app, offices, clock) -> None:
    seoul, _ = offices
    period = _monday_morning(seoul)
    schedule.remove_period(db.session, seoul, period.id, LATER_MONDAY, None, clock(), 60)
    ended = next(p for p in seoul.opening_periods if p.weekday == 0 and p.opens_at == time(9))
    with pytest.raises(ValidationFailed) as refused:
        schedule.change_period(
            db.session,
            seoul,
            ended.id,
            time(10),
            time(12),
            2,
            LATER_MONDAY + timedelta(days=7),
            None,
            clock(),
            60,
        )
    assert "effective_from" in refused.value.fields
    db.session.rollback()
