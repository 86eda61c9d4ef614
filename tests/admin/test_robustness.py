"""Odd input on the administration pages gets a clear answer, never a server error: ids
beyond the database's integers, NUL characters, dates at the ends of the calendar, and two
administrators saving the same thing at once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Office, ServiceType, User
from consular.services import catalog
from tests.admin.conftest import sign_in
from tests.admin.test_offices import office_form
from tests.admin.test_services import service_form
from tests.conftest import booking_body

TOO_BIG = 2**31


@pytest.fixture
def admin_client(client, accounts):
    sign_in(client, "admin@example.org")
    return client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"/admin/services/{TOO_BIG}"),
        ("POST", f"/admin/services/{TOO_BIG}/retire"),
        ("GET", f"/admin/offices/{TOO_BIG}"),
        ("GET", f"/admin/accounts/{TOO_BIG}"),
        ("POST", f"/staff/seoul/tickets/{TOO_BIG}/serve"),
        ("POST", f"/staff/seoul/slots/{TOO_BIG}/block"),
        ("GET", "/admin/services/0"),
    ],
)
def test_ids_beyond_the_database_integers_are_not_found(admin_client, offices, method, url):
    assert admin_client.open(url, method=method).status_code == 404


def test_offices_and_combinations_not_offered_by_the_form_are_ignored(
    admin_client, offices
) -> None:
    _, busan = offices
    form = service_form(busan.id, offices=[str(busan.id), str(TOO_BIG)],
                        combinable=[str(TOO_BIG), "12345"])  # fmt: skip
    assert admin_client.post("/admin/services/new", data=form).status_code == 302
    added = db.session.scalar(
        sa.select(ServiceType).where(ServiceType.code == "consular-registration")
    )
    assert [o.code for o in added.offices] == ["busan"] and added.combinable_with == []


def test_nul_characters_never_reach_the_database(admin_client, accounts, offices) -> None:
    seoul, _ = offices
    assert admin_client.get("/admin/accounts?q=a%00b").status_code == 200
    audit = admin_client.get("/admin/audit?action=a%00b")
    assert audit.status_code in (200, 400)
    clerk = accounts["clerk_seoul"]
    edit = {"name": "Clerk\x00 Seoul", "role": "clerk", "offices": [str(seoul.id)],
            "language": "en", "active": "y"}  # fmt: skip
    assert admin_client.post(f"/admin/accounts/{clerk.id}", data=edit).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, clerk.id).name == "Clerk Seoul"
    form = office_form(code="seoul", reference_prefix=seoul.reference_prefix, ticket_prefix="S",
                       map_url="https://maps.example.org/a\x00b",
                       name_en="Embassy\x00")  # fmt: skip
    assert admin_client.post(f"/admin/offices/{seoul.id}", data=form).status_code == 302
    db.session.expire_all()
    office = db.session.get(Office, seoul.id)
    assert (office.map_url, office.name["en"]) == ("https://maps.example.org/ab", "Embassy")


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-02", "9999-12-31", "9999-12-30"])
def test_report_days_at_the_ends_of_the_calendar_are_refused(admin_client, offices, day):
    for url in ("/admin/reports", "/admin/reports/days.csv"):
        assert admin_client.get(f"{url}?office=all&from={day}&to={day}").status_code == 400


def test_a_language_that_is_not_text_is_refused_by_the_api(client, offices, make_service):
    seoul, _ = offices
    apart = make_service("apart", combinable=False)
    seoul.services.append(apart)
    db.session.commit()
    passport = db.session.scalar(sa.select(ServiceType).where(ServiceType.code != "apart"))
    from datetime import UTC, datetime

    body = booking_body(seoul, [passport, apart], datetime(2026, 11, 30, tzinfo=UTC))
    for language in (5, ["ru"], {"x": 1}):
        response = client.post("/api/v1/appointments", json=body | {"language": language})
        assert response.status_code == 422
        assert set(response.get_json()["fields"]) >= {"services", "language"}


def test_a_code_taken_between_the_check_and_the_save_is_told_not_crashed(
    admin_client, offices, monkeypatch
) -> None:
    _, busan = offices
    monkeypatch.setattr(catalog, "check_service_type", lambda *args: None)
    response = admin_client.post(
        "/admin/services/new", data=service_form(busan.id, code="passport-renewal")
    )
    assert response.status_code == 400
    assert "Someone changed this at the same time." in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceType)) == 1
