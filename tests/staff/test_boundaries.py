"""Every staff action runs in one transaction: a refusal, or a constraint that another
person's change trips, leaves nothing half-written and answers with a message, never a 500;
days beyond the calendar's ends are refused with a message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, Closure, Slot, Ticket
from consular.services import queue, schedule
from consular.services.errors import InvalidState
from tests.staff.conftest import sign_in
from tests.test_transaction import collide

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
CONCURRENT = "Someone changed this at the same time."


def _signed_in(app, account):
    client = app.test_client()
    assert sign_in(client, account.email).status_code == 302
    return client


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_constraint_tripped_by_a_queue_action_is_a_message_and_nothing_stays(
    app, offices, accounts, clock, monkeypatch
) -> None:
    seoul, _busan = offices
    clock.set(MONDAY_9)
    real = queue.issue_walk_in

    def issue_then_collide(*args, **kwargs):
        ticket = real(*args, **kwargs)  # the ticket and its audit entry are written...
        collide()  # ...then a unique constraint refuses the transaction
        return ticket

    monkeypatch.setattr(queue, "issue_walk_in", issue_then_collide)
    clerk = _signed_in(app, accounts["clerk_seoul"])
    audit_before = _count(AuditEntry)
    response = clerk.post(
        "/staff/seoul/walk-in", data={"service": seoul.services[0].id, "urgent": "y"}
    )
    assert response.status_code == 302
    assert CONCURRENT in clerk.get(response.headers["Location"]).text
    assert _count(Ticket) == 0
    assert _count(AuditEntry) == audit_before


@pytest.mark.parametrize("refusal", ["domain_error", "integrity_error"])
def test_a_refused_schedule_change_keeps_none_of_its_writes(
    app, offices, accounts, monkeypatch, refusal
) -> None:
    real = schedule.add_closure

    def close_then_refuse(*args, **kwargs):
        real(*args, **kwargs)  # the closure is stored and the slots removed...
        if refusal == "integrity_error":
            collide()
        raise InvalidState("The change was refused.")  # ...then the change is refused

    monkeypatch.setattr(schedule, "add_closure", close_then_refuse)
    manager = _signed_in(app, accounts["manager_seoul"])
    slots_before = _count(Slot)
    response = manager.post(
        "/staff/seoul/schedule/closures",
        data={"first_day": "2026-12-01", "last_day": "2026-12-01", "reason": "Inventory"},
    )
    assert response.status_code == 302
    page = manager.get(response.headers["Location"]).text
    assert (CONCURRENT if refusal == "integrity_error" else "The change was refused.") in page
    assert _count(Closure) == 0
    assert _count(Slot) == slots_before


@pytest.mark.parametrize(
    "path",
    [
        "/staff/seoul?day=9999-12-31",
        "/staff/seoul?day=0001-01-01",
        "/staff/seoul/week?start=0001-01-01",
        "/staff/seoul/week?start=9999-12-31",
        "/staff/seoul/day.csv?day=0001-01-01",
        "/staff/seoul/day.csv?day=9999-12-31",
        "/staff/seoul/print?day=0001-01-01",
        "/staff/seoul/print?day=9999-12-31",
    ],
)
def test_a_day_beyond_the_calendar_is_refused_with_a_message(app, accounts, path) -> None:
    manager = _signed_in(app, accounts["manager_seoul"])
    response = manager.get(path)
    assert response.status_code == 400
    assert "Enter a date as year-month-day, for example 2026-11-30." in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/staff/seoul?day=0001-01-15",
        "/staff/seoul?day=9999-12-17",
        "/staff/seoul/week?start=0001-01-15",
        "/staff/seoul/week?start=9999-12-17",
        "/staff/seoul/day.csv?day=9999-12-17",
        "/staff/seoul/print?day=0001-01-15",
        "/staff/seoul?day=not-a-day",  # as before: the office's today
    ],
)
def test_the_first_and_last_days_shown_are_shown(app, accounts, path) -> None:
    manager = _signed_in(app, accounts["manager_seoul"])
    assert manager.get(path).status_code == 200
