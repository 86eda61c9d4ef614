"""Service types as administrators keep them: texts in four languages, rules, offices,
combinations, retiring and deleting — and what citizens see as a result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, AuditEntry, ServiceType
from consular.services import booking
from tests.admin.conftest import sign_in
from tests.conftest import booking_body

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul and Busan


def service_form(busan_id: int, **overrides) -> dict:
    """A complete, valid form for a consular registration offered at Busan only."""
    form = {
        "code": "consular-registration",
        "name_kk": "Консулдық есепке тұру",
        "name_ru": "Постановка на консульский учёт",
        "name_en": "Consular registration",
        "name_ko": "영사 등록",
        "description_en": "Register as living in Korea.",
        "documents_en": "Passport\nResidence card\n\n",
        "documents_ru": "Паспорт\nID-карта иностранца",
        "fee_en": "Free of charge",
        "duration_minutes": "20",
        "min_notice_hours": "2",
        "horizon_days": "30",
        "cutoff_hours": "12",
        "max_active_bookings": "1",
        "iin_window_days": "30",
        "waitlist_mode": "random",
        "is_online": "y",
        "offices": [str(busan_id)],
        "detail_sets": ["current_passport"],
        "sort_order": "5",
    }
    form.update(overrides)
    return form


@pytest.fixture
def admin_client(client, accounts):
    sign_in(client, "admin@example.org")
    return client


def test_an_added_service_is_offered_only_where_chosen_and_can_be_booked(
    app, admin_client, offices
) -> None:
    seoul, busan = offices
    response = admin_client.post("/admin/services/new", data=service_form(busan.id))
    assert response.status_code == 302
    service = db.session.scalar(
        sa.select(ServiceType).where(ServiceType.code == "consular-registration")
    )
    assert service.name["ko"] == "영사 등록"
    assert service.documents == {
        "en": ["Passport", "Residence card"],
        "ru": ["Паспорт", "ID-карта иностранца"],
    }
    assert [o.code for o in service.offices] == ["busan"]
    assert service.detail_sets == ["current_passport"]
    assert (service.iin_window_days, service.waitlist_mode) == (30, "random")

    assert "Consular registration" in admin_client.get("/book/busan").text
    assert "Consular registration" not in admin_client.get("/book/seoul").text
    body = booking_body(busan, [service], MONDAY_9, details={
        "current_passport": {"expiry_date": "2027-05-01"}})  # fmt: skip
    assert admin_client.post("/api/v1/appointments", json=body).status_code == 201
    refused = admin_client.post(
        "/api/v1/appointments", json=booking_body(seoul, [service], MONDAY_9)
    )
    assert refused.status_code == 422


def test_an_unknown_waiting_list_mode_is_refused_by_its_field(admin_client, offices) -> None:
    _, busan = offices
    response = admin_client.post(
        "/admin/services/new", data=service_form(busan.id, waitlist_mode="lifo")
    )
    assert response.status_code == 400
    assert "Choose how the waiting list works." in response.text
    assert (
        db.session.scalar(sa.select(ServiceType).where(ServiceType.code == "consular-registration"))
        is None
    )


def test_the_form_comes_back_with_values_and_a_message_by_each_bad_field(
    admin_client, offices
) -> None:
    _, busan = offices
    bad = service_form(busan.id, code="Not A Code", name_en="", duration_minutes="2",
                       horizon_days="many")  # fmt: skip
    response = admin_client.post("/admin/services/new", data=bad)
    assert response.status_code == 400
    page = response.text
    assert "Use lower-case Latin letters" in page
    assert "Enter the name in English" in page
    assert "Enter a number from 5 to 480." in page
    assert "Enter a whole number." in page or "Not a valid integer value." in page
    assert 'value="Постановка на консульский учёт"' in page  # kept
    assert 'aria-invalid="true"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceType)) == 1


def test_a_duplicate_code_is_refused_next_to_the_field(admin_client, offices) -> None:
    _, busan = offices
    response = admin_client.post(
        "/admin/services/new", data=service_form(busan.id, code="passport-renewal")
    )
    assert response.status_code == 400
    assert "Another service type already has this code." in response.text


def test_missing_translations_are_flagged_and_citizens_see_english(admin_client, offices) -> None:
    _, busan = offices
    form = service_form(busan.id, name_kk="", name_ko="")
    admin_client.post("/admin/services/new", data=form)
    listing = admin_client.get("/admin/services").text
    assert "Missing: Қазақша, Русский, 한국어" in listing  # ru lacks the description and fee
    admin_client.post("/language", data={"language": "kk", "next": "/book/busan"})
    assert "Consular registration" in admin_client.get("/book/busan").text


def test_a_change_applies_to_new_bookings_only(app, admin_client, offices) -> None:
    _, busan = offices
    admin_client.post("/admin/services/new", data=service_form(busan.id))
    service = db.session.scalar(
        sa.select(ServiceType).where(ServiceType.code == "consular-registration")
    )
    body = booking_body(busan, [service], MONDAY_9, details={
        "current_passport": {"expiry_date": "2027-05-01"}})  # fmt: skip
    reference = admin_client.post("/api/v1/appointments", json=body).get_json()["reference"]

    changed = service_form(busan.id, name_en="Registration (new wording)", cutoff_hours="48",
                           duration_minutes="45")  # fmt: skip
    response = admin_client.post(f"/admin/services/{service.id}", data=changed)
    assert response.status_code == 302
    db.session.expire_all()
    booked = db.session.scalar(sa.select(Appointment).where(Appointment.reference == reference))
    line = booked.service_lines[0]
    assert line.snapshot["name"]["en"] == "Consular registration"
    assert line.snapshot["duration_minutes"] == 20
    assert booking.cancellation_deadline(booked) == booked.starts_at - timedelta(hours=12)
    assert db.session.get(ServiceType, service.id).name["en"] == "Registration (new wording)"
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "update_service_type")
    )
    assert entry.before["cutoff_hours"] == 12 and entry.after["cutoff_hours"] == 48


def test_the_code_of_an_existing_service_never_changes(admin_client, offices) -> None:
    _, busan = offices
    admin_client.post("/admin/services/new", data=service_form(busan.id))
    service = db.session.scalar(
        sa.select(ServiceType).where(ServiceType.code != "passport-renewal")
    )
    admin_client.post(f"/admin/services/{service.id}", data=service_form(busan.id, code="other"))
    db.session.expire_all()
    assert db.session.get(ServiceType, service.id).code == "consular-registration"


def test_combinations_are_kept_in_both_directions(admin_client, offices) -> None:
    _, busan = offices
    passport = db.session.scalar(sa.select(ServiceType))
    admin_client.post("/admin/services/new",
                      data=service_form(busan.id, combinable=[str(passport.id)]))  # fmt: skip
    added = db.session.scalar(sa.select(ServiceType).where(ServiceType.id != passport.id))
    db.session.expire_all()
    assert [s.code for s in passport.combinable_with] == ["consular-registration"]
    admin_client.post(f"/admin/services/{added.id}", data=service_form(busan.id))
    db.session.expire_all()
    assert passport.combinable_with == [] and added.combinable_with == []


def test_retiring_stops_new_bookings_and_keeps_history(admin_client, offices) -> None:
    seoul, _ = offices
    service = db.session.scalar(sa.select(ServiceType))
    body = booking_body(seoul, [service], MONDAY_9)
    assert admin_client.post("/api/v1/appointments", json=body).status_code == 201
    page = admin_client.get(f"/admin/services/{service.id}").text
    assert "it can&#39;t be deleted" in page or "it can't be deleted" in page

    assert admin_client.post(f"/admin/services/{service.id}/delete").status_code == 302
    assert db.session.get(ServiceType, service.id) is not None  # refused: it has history

    admin_client.post(f"/admin/services/{service.id}/retire")
    db.session.expire_all()
    assert db.session.get(ServiceType, service.id).is_active is False
    assert "Passport" not in admin_client.get("/book/seoul").text.split("<main")[1]
    other = booking_body(seoul, [service], MONDAY_9, applicant={"iin": "900101300126"})
    assert admin_client.post("/api/v1/appointments", json=other).status_code == 422
    assert "Retired" in admin_client.get("/admin/services").text

    admin_client.post(f"/admin/services/{service.id}/reinstate")
    db.session.expire_all()
    assert db.session.get(ServiceType, service.id).is_active is True


def test_a_service_without_history_can_be_deleted(admin_client, offices) -> None:
    _, busan = offices
    admin_client.post("/admin/services/new", data=service_form(busan.id))
    added = db.session.scalar(
        sa.select(ServiceType).where(ServiceType.code == "consular-registration")
    )
    assert admin_client.post(f"/admin/services/{added.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(ServiceType).where(ServiceType.id == added.id)) is None
    assert (
        db.session.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "delete_service_type")
        ).before["code"]
        == "consular-registration"
    )


def test_a_staff_only_service_is_not_offered_online(admin_client, offices) -> None:
    _, busan = offices
    form = service_form(busan.id)
    del form["is_online"]
    admin_client.post("/admin/services/new", data=form)
    assert "service-consular-registration" not in admin_client.get("/book/busan").text
    listing = admin_client.get("/api/v1/offices/busan/services").get_json()
    assert [s["code"] for s in listing["services"]] == ["passport-renewal"]


def test_unknown_ids_are_404(admin_client, offices) -> None:
    assert admin_client.get("/admin/services/999999").status_code == 404
    assert admin_client.post("/admin/services/999999/retire").status_code == 404


@pytest.mark.parametrize("who", ["clerk.seoul@example.org", "manager.seoul@example.org"])
def test_other_staff_may_not_change_service_types(client, accounts, offices, who) -> None:
    sign_in(client, who)
    service = db.session.scalar(sa.select(ServiceType))
    assert client.get("/admin/services").status_code == 403
    assert client.post(f"/admin/services/{service.id}/retire").status_code == 403
    db.session.expire_all()
    assert db.session.get(ServiceType, service.id).is_active
