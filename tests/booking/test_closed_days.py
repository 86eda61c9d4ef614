"""Closed days on the citizen calendar and in the API: public reasons shown, staff-only ones
never."""

from __future__ import annotations

from datetime import date

import pytest

from consular.extensions import db
from consular.services import schedule

TIME_PAGE = "/book/seoul/time?services=passport-renewal&month=2026-12"
AVAILABILITY = "/api/v1/offices/seoul/availability?services=passport-renewal"


@pytest.fixture
def office(make_office, make_service, clock):
    office = make_office("seoul", services=[make_service("passport-renewal")])
    schedule.add_closure(
        db.session,
        office,
        date(2026, 12, 2),
        date(2026, 12, 3),
        "Staff training day",
        None,
        clock(),
        60,
    )
    schedule.add_closure(
        db.session,
        office,
        date(2026, 12, 8),
        date(2026, 12, 8),
        "Electrical works in the building (internal ticket 4471)",
        None,
        clock(),
        60,
        is_reason_public=False,
    )
    db.session.commit()
    return office


def test_the_calendar_marks_a_closed_day_with_its_public_reason(client, office) -> None:
    page = client.get(TIME_PAGE).text
    assert page.count('class="day-closed"') == 3  # 2, 3 and 8 December
    assert "Staff training day" in page
    assert "closed (Staff training day)" in page  # in the day's own label, for screen readers


def test_a_staff_only_reason_never_reaches_the_calendar(client, office) -> None:
    page = client.get(TIME_PAGE).text
    assert "Electrical works" not in page
    assert "4471" not in page
    assert 'Tuesday, December 8, 2026: closed"' in page


def test_a_removed_closure_is_no_longer_shown(client, office, clock) -> None:
    closure = next(c for c in office.closures if c.reason == "Staff training day")
    schedule.remove_closure(db.session, closure, None, clock(), 60)
    db.session.commit()
    page = client.get(TIME_PAGE).text
    assert "Staff training day" not in page
    assert page.count('class="day-closed"') == 1


def test_the_api_lists_closed_days_with_public_reasons_only(client, office) -> None:
    body = client.get(f"{AVAILABILITY}&from=2026-12-01&to=2026-12-10").get_json()
    assert body["closed_days"] == [
        {"day": "2026-12-02", "reason": "Staff training day"},
        {"day": "2026-12-03", "reason": "Staff training day"},
        {"day": "2026-12-08", "reason": None},
    ]
    assert not any(s["start"].startswith("2026-12-02") for s in body["slots"])
    raw = client.get(f"{AVAILABILITY}&from=2026-12-08&to=2026-12-08").text
    assert "Electrical" not in raw and "4471" not in raw


def test_the_api_lists_no_closed_day_outside_the_range(client, office) -> None:
    body = client.get(f"{AVAILABILITY}&from=2026-12-04&to=2026-12-07").get_json()
    assert body["closed_days"] == []


def test_the_openapi_document_describes_closed_days(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "closed_days" in schemas["Availability"]["required"]
    assert schemas["Availability"]["properties"]["closed_days"]["items"] == {
        "$ref": "#/components/schemas/ClosedDay"
    }
    assert set(schemas["ClosedDay"]["properties"]) == {"day", "reason"}
