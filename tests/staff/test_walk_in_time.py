"""The walk-in allowance is shown, needed and refused in one unit: minutes of desk time."""

from __future__ import annotations

import sqlalchemy as sa

from consular.extensions import db
from consular.models import Ticket
from consular.services import queue
from tests.staff.conftest import MONDAY_9

NBSP = "\u00a0"


def _left_line(page: str) -> str:
    start = page.index('id="walkin-left">') + len('id="walkin-left">')
    return page[start : page.index("</p>", start)]


def test_the_time_left_and_each_services_need_are_in_minutes_and_agree_with_the_refusal(
    clerk, offices, make_service, clock
) -> None:
    seoul, _busan = offices
    short = seoul.services[0]  # 15 minutes: one slot
    long = make_service("marriage", duration_minutes=25)  # two 15-minute slots
    seoul.services.append(long)
    db.session.commit()
    clock.set(MONDAY_9)
    allowance = queue.walk_in_allowance(db.session, seoul, clock())
    assert allowance >= 2
    # Take all but one slot with short walk-ins.
    for _ in range(allowance - 1):
        queue.issue_walk_in(db.session, seoul, short, None, clock())
    db.session.commit()
    assert queue.walk_in_minutes_left(db.session, seoul, clock()) == 15

    page = clerk.get("/staff/seoul").text
    assert _left_line(page) == f"Walk-in time left today: 15{NBSP}min of desk time"
    assert f"(15{NBSP}min)</option>" in page
    assert f"(30{NBSP}min)</option>" in page  # 25 minutes take two whole slots

    refused = clerk.post("/staff/seoul/walk-in", data={"service": long.id}, follow_redirects=True)
    assert f"15{NBSP}min left, this service needs 30{NBSP}min" in refused.text
    assert _left_line(refused.text).startswith("Walk-in time left today: 15")

    # The short service still fits, and then nothing is left.
    clerk.post("/staff/seoul/walk-in", data={"service": short.id})
    assert queue.walk_in_minutes_left(db.session, seoul, clock()) == 0
    tickets = db.session.scalar(
        sa.select(sa.func.count()).select_from(Ticket).where(Ticket.office_id == seoul.id)
    )
    assert tickets == allowance


def test_an_urgent_case_is_admitted_beyond_the_time_left(clerk, offices, clock) -> None:
    seoul, _busan = offices
    seoul.walk_in_share = 0
    db.session.commit()
    clock.set(MONDAY_9)
    assert queue.walk_in_minutes_left(db.session, seoul, clock()) == 0
    clerk.post("/staff/seoul/walk-in", data={"service": seoul.services[0].id, "urgent": "y"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
