"""Public holidays on the schedule page and the citizen calendar: collapsed for the manager,
named in the page's language."""

from __future__ import annotations

from datetime import date

import pytest

from consular.extensions import db
from consular.services import schedule
from tests.staff.conftest import sign_in


@pytest.mark.parametrize(
    ("country", "locale", "name"),
    [
        ("KR", "ko", "신정연휴"),
        ("KR", "en", "New Year's Day"),
        ("KR", "kk", "New Year's Day"),  # the package has no Kazakh names for Korea
        ("KZ", "kk", "Жаңа жыл"),
        ("KZ", "ru", "New Year's Day"),  # nor Russian ones (its Ukrainian is no fallback)
        ("KZ", "ko", "New Year's Day"),
    ],
)
def test_holiday_names_come_in_the_readers_language_or_english(country, locale, name) -> None:
    assert schedule.holiday_name(country, date(2027, 1, 1), locale) == name


@pytest.fixture
def holidays_loaded(offices, clock):
    seoul, _ = offices
    schedule.load_public_holidays(db.session, seoul, [2026, 2027])
    schedule.sync_slots(db.session, seoul, clock(), 60)
    schedule.add_closure(
        db.session,
        seoul,
        date(2026, 12, 10),
        date(2026, 12, 10),
        "Staff training",
        None,
        clock(),
        60,
    )
    db.session.commit()
    return seoul


def _manager_page(app, accounts, language: str) -> str:
    client = app.test_client()
    sign_in(client, accounts["manager_seoul"].email)
    client.post("/language", data={"language": language})
    return client.get("/staff/seoul/schedule").text


def test_holidays_are_collapsed_after_the_managers_closures(app, accounts, holidays_loaded):
    page = _manager_page(app, accounts, "en")
    details = page.index('<details class="disclosure holidays">')
    assert page.index("Staff training") < details
    assert "Public holidays ahead:" in page[details:]
    assert page.index("Korean public holiday: Christmas Day") > details
    assert page.index("</details>") < page.index('id="booking-title"')


def test_holiday_names_follow_the_pages_language(app, accounts, holidays_loaded):
    korean = _manager_page(app, accounts, "ko")
    assert "신정연휴" in korean  # Korean New Year's holiday, in Korean
    assert "Korean public holiday: New Year's Day" not in korean
    kazakh = _manager_page(app, accounts, "kk")
    assert "Жаңа жыл" in kazakh
    assert "Christmas Day" in kazakh  # the package has no Kazakh name for it: English


def test_the_citizen_calendar_names_holidays_in_the_citizens_language(client, holidays_loaded):
    client.post("/language", data={"language": "kk"})
    page = client.get("/book/seoul/time?services=passport-renewal&month=2026-12").text
    assert "Тәуелсіздік күні" in page  # Kazakh Independence Day, 16 December
    body = client.get(
        "/api/v1/offices/seoul/availability?services=passport-renewal&from=2026-12-16&to=2026-12-16",
        headers={"Accept-Language": "kk"},
    ).get_json()
    assert body["closed_days"][0]["day"] == "2026-12-16"
    assert "Тәуелсіздік күні" in body["closed_days"][0]["reason"]
