"""Offices, services and availability: the read side of the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consular.extensions import db
from tests.conftest import booking_body
from tests.statements import counted_statements

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


@pytest.fixture
def seoul(make_office, make_service):
    passport = make_service(
        "passport-renewal", duration_minutes=30, documents={"en": ["Passport", "Photo"]}
    )
    marriage = make_service("marriage-registration", duration_minutes=45)
    retired = make_service("retired", is_active=False)
    return make_office("seoul", services=[passport, marriage, retired]), passport, marriage


def test_offices_list(client, seoul) -> None:
    body = client.get("/api/v1/offices").get_json()
    assert body["offices"][0]["code"] == "seoul"
    assert body["offices"][0]["timezone"] == "Asia/Seoul"
    assert {"name", "address", "booking_open"} <= set(body["offices"][0])


def test_services_of_an_office_in_the_asked_language(client, seoul) -> None:
    body = client.get(
        "/api/v1/offices/seoul/services", headers={"Accept-Language": "ru"}
    ).get_json()
    codes = [s["code"] for s in body["services"]]
    assert codes == ["passport-renewal", "marriage-registration"]  # the retired one is hidden
    passport = body["services"][0]
    assert passport["name"].startswith("Услуга")
    assert passport["duration_minutes"] == 30
    assert passport["documents"] == ["Passport", "Photo"]  # English fallback: no Russian list


def test_availability_lists_every_start_in_office_time(client, seoul) -> None:
    body = client.get(
        "/api/v1/offices/seoul/availability?services=passport-renewal&from=2026-11-30&to=2026-11-30"
    ).get_json()
    assert body["timezone"] == "Asia/Seoul"
    starts = [s["start"] for s in body["slots"]]
    assert starts[0] == "2026-11-30T09:00:00+09:00"
    assert body["slots"][0]["end"] == "2026-11-30T09:30:00+09:00"
    assert "2026-11-30T12:00:00+09:00" in starts  # 12:00-12:30 fits before the break
    assert "2026-11-30T12:15:00+09:00" not in starts
    assert starts[-1] == "2026-11-30T16:30:00+09:00"
    assert len(starts) == 13 + 11
    assert all(s["available"] == 2 for s in body["slots"])


def test_full_times_are_listed_with_zero(client, seoul, iins) -> None:
    office, passport, _ = seoul
    for _ in range(2):
        body = booking_body(office, [passport], MONDAY_9, applicant={"iin": next(iins)})
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    slots = client.get(
        "/api/v1/offices/seoul/availability?services=passport-renewal&from=2026-11-30&to=2026-11-30"
    ).get_json()["slots"]
    by_start = {s["start"]: s["available"] for s in slots}
    assert by_start["2026-11-30T09:00:00+09:00"] == 0
    assert by_start["2026-11-30T09:15:00+09:00"] == 0  # overlaps the 09:15 slot of those visits
    assert by_start["2026-11-30T09:30:00+09:00"] == 2


def test_availability_uses_the_same_number_of_statements_for_any_range(client, seoul, iins) -> None:
    office, passport, marriage = seoul
    url = "/api/v1/offices/seoul/availability?services=passport-renewal,marriage-registration"
    with counted_statements() as short:
        assert client.get(f"{url}&from=2026-11-30&to=2026-11-30").status_code == 200
    for days in range(3):
        start = MONDAY_9 + timedelta(days=days)
        body = booking_body(office, [passport], start, applicant={"iin": next(iins)})
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    with counted_statements() as long:
        response = client.get(f"{url}&from=2026-11-30&to=2027-01-28")
    assert response.status_code == 200
    assert len(response.get_json()["slots"]) > 500
    # The seats (with the office and services), and the lottery releases covering the range.
    assert len(long) == len(short) <= 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("services=", "services"),
        ("services=unknown", "services"),
        ("services=retired", "services"),
        ("services=passport-renewal,passport-renewal", "services"),
        ("services=passport-renewal&from=2026-13-01", "from"),
        ("services=passport-renewal&to=tomorrow", "to"),
        ("services=passport-renewal&from=2026-12-10&to=2026-12-01", "to"),
        ("services=passport-renewal&from=2026-12-01&to=2027-12-01", "to"),
    ],
)
def test_bad_availability_queries_are_422(client, seoul, query, field) -> None:
    response = client.get(f"/api/v1/offices/seoul/availability?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["fields"]


def test_a_closed_office_offers_no_times(client, seoul) -> None:
    office, _, _ = seoul
    office.booking_open = False
    office.booking_closed_message = {"en": "Closed for the move to new premises."}
    db.session.commit()
    body = client.get("/api/v1/offices/seoul/availability?services=passport-renewal").get_json()
    assert body["booking_open"] is False and body["slots"] == []
    offices = client.get("/api/v1/offices").get_json()["offices"]
    assert offices[0]["booking_closed_message"] == "Closed for the move to new premises."
