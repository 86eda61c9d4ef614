"""Offices as administrators keep them: names in four languages, address, zone, contacts
and slot length; a new office gets its hours on the managers' schedule page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, Office, ServiceType, Slot
from tests.admin.conftest import sign_in
from tests.conftest import booking_body

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def office_form(**overrides) -> dict:
    form = {
        "code": "almaty-test",
        "reference_prefix": "tst",
        "ticket_prefix": "t",
        "timezone": "Asia/Seoul",
        "slot_minutes": "15",
        "name_en": "Consulate General in Gwangju",
        "name_ru": "Генеральное консульство в Кванджу",
        "name_kk": "Кванджудағы Бас консулдық",
        "name_ko": "주광주 총영사관",
        "address_en": "1 Example-ro, Gwangju",
        "phone": "062 123 4567",
        "email": "Gwangju@Example.org",
        "map_url": "https://maps.example.org/gwangju",
    }
    form.update(overrides)
    return form


@pytest.fixture
def admin_client(client, accounts):
    sign_in(client, "admin@example.org")
    return client


def test_an_added_office_is_normalised_and_sent_to_its_schedule(admin_client, offices) -> None:
    response = admin_client.post("/admin/offices/new", data=office_form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/almaty-test/schedule")
    office = db.session.scalar(sa.select(Office).where(Office.code == "almaty-test"))
    assert (office.reference_prefix, office.ticket_prefix) == ("TST", "T")
    assert office.phone == "+82621234567"
    assert office.email == "Gwangju@example.org"  # the domain is normalised, not the mailbox
    assert office.name["ko"] == "주광주 총영사관"
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "create_office"))
    assert admin_client.get("/staff/almaty-test/schedule").status_code == 200
    assert "Consulate General in Gwangju" in admin_client.get("/admin/offices").text


def test_bad_values_come_back_with_a_message_by_each_field(admin_client, offices) -> None:
    bad = office_form(code="Bad Code", reference_prefix="SEL", timezone="Mars/Olympus",
                      phone="12", map_url="javascript:alert(1)", name_en="",
                      slot_minutes="1")  # fmt: skip
    seoul, _ = offices
    seoul.reference_prefix = "SEL"
    db.session.commit()
    response = admin_client.post("/admin/offices/new", data=bad)
    assert response.status_code == 400
    for message in (
        "Use lower-case Latin letters",
        "Another office already uses these letters.",
        "Choose a time zone from the list",
        "Enter a phone number such as",
        "Enter a web address starting with https://.",
        "Enter the name in English",
        "Enter a number from 5 to 240.",
    ):
        assert message in response.text, message
    assert 'value="주광주 총영사관"' in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Office)) == 2


def test_editing_keeps_the_code_and_records_before_and_after(admin_client, offices) -> None:
    _, busan = offices
    form = office_form(code="renamed", reference_prefix="PUS", ticket_prefix="B",
                       name_en="Consulate General in Busan")  # fmt: skip
    assert admin_client.post(f"/admin/offices/{busan.id}", data=form).status_code == 302
    db.session.expire_all()
    office = db.session.get(Office, busan.id)
    assert office.code == "busan"
    assert office.name["en"] == "Consulate General in Busan"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "update_office"))
    assert entry.office_id == busan.id and entry.after["reference_prefix"] == "PUS"


def test_a_new_slot_length_regenerates_slots_and_lists_bookings_that_no_longer_fit(
    admin_client, offices
) -> None:
    seoul, _ = offices
    service = db.session.scalar(sa.select(ServiceType))
    body = booking_body(seoul, [service], MONDAY_9)
    assert admin_client.post("/api/v1/appointments", json=body).status_code == 201
    form = office_form(code="seoul", reference_prefix=seoul.reference_prefix, ticket_prefix="S",
                       slot_minutes="20")  # fmt: skip
    response = admin_client.post(f"/admin/offices/{seoul.id}", data=form)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/seoul/schedule")
    lengths = {
        (slot.ends_at - slot.starts_at).seconds // 60
        for slot in db.session.scalars(
            sa.select(Slot).where(Slot.office_id == seoul.id, Slot.outside_schedule.is_(False))
        )
    }
    assert lengths == {20}
    kept = db.session.scalar(
        sa.select(Slot).where(Slot.office_id == seoul.id, Slot.starts_at == MONDAY_9)
    )
    assert kept.outside_schedule and kept.booked == 1
    assert "Appointments outside the new schedule" in admin_client.get("/staff/seoul/schedule").text


@pytest.mark.parametrize("who", ["clerk.seoul@example.org", "manager.seoul@example.org"])
def test_other_staff_may_not_edit_offices(client, accounts, offices, who) -> None:
    seoul, _ = offices
    sign_in(client, who)
    assert client.get("/admin/offices").status_code == 403
    assert client.post(f"/admin/offices/{seoul.id}", data=office_form()).status_code == 403


def test_an_unknown_office_is_404(admin_client, offices) -> None:
    assert admin_client.get("/admin/offices/424242").status_code == 404


def test_a_constraint_tripped_meanwhile_is_a_message_on_the_form_and_nothing_is_saved(
    admin_client, offices, monkeypatch
) -> None:
    from consular.services import catalog
    from tests.test_transaction import collide

    real = catalog.update_office

    def update_then_collide(*args, **kwargs):
        changes = real(*args, **kwargs)
        collide()
        return changes

    monkeypatch.setattr(catalog, "update_office", update_then_collide)
    _, busan = offices
    form = office_form(reference_prefix="PUS", name_en="Consulate General in Busan")
    response = admin_client.post(f"/admin/offices/{busan.id}", data=form)
    assert response.status_code == 400
    assert "Someone changed this at the same time." in response.text
    assert 'value="Consulate General in Busan"' in response.text  # what was typed is kept
    db.session.expire_all()
    assert db.session.get(Office, busan.id).name["en"] != "Consulate General in Busan"
    assert not db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "update_office"))


# Spoken calls on the waiting-room display


def checked(page: str, name: str, value: str) -> bool:
    """Whether the page's checkbox of that name and value is ticked."""
    box = re.search(rf'<input[^>]*name="{name}"[^>]*value="{value}"[^>]*>', page)
    assert box is not None, (name, value)
    return " checked" in box.group(0)


def test_spoken_calls_are_saved_in_the_order_they_are_said(admin_client, offices) -> None:
    seoul, _ = offices
    assert not seoul.calls_spoken and seoul.call_languages == ["ko", "ru"]
    page = admin_client.get(f"/admin/offices/{seoul.id}").text
    assert not checked(page, "calls_spoken", "y")
    assert [checked(page, "call_languages", code) for code in ("ko", "kk", "ru")] == [
        True,
        False,
        True,
    ]
    form = office_form(code="seoul", name_en="Seoul", calls_spoken="y",
                       call_languages=["kk", "ko"])  # fmt: skip
    response = admin_client.post(f"/admin/offices/{seoul.id}", data=form)
    assert response.status_code == 302
    db.session.refresh(seoul)
    assert seoul.calls_spoken and seoul.call_languages == ["ko", "kk"]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "update_office"))
    assert entry.after["call_languages"] == ["ko", "kk"] and entry.after["calls_spoken"]
    page = admin_client.get(f"/admin/offices/{seoul.id}").text
    assert checked(page, "calls_spoken", "y")
    assert [checked(page, "call_languages", code) for code in ("ko", "kk", "ru")] == [
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("spoken", "languages", "message"),
    [
        ("y", [], "Choose at least one language to say the calls in"),
        ("y", ["ko", "en"], "Choose among Korean, Kazakh and Russian."),
        ("", ["xx"], "Choose among Korean, Kazakh and Russian."),
    ],
)
def test_spoken_calls_are_validated_next_to_the_field(
    admin_client, offices, spoken, languages, message
) -> None:
    seoul, _ = offices
    form = office_form(code="seoul", name_en="Seoul", phone="12",
                       calls_spoken=spoken, call_languages=languages)  # fmt: skip
    response = admin_client.post(f"/admin/offices/{seoul.id}", data=form)
    assert response.status_code == 400
    fieldset = response.text.split('id="call_languages"', 1)[1].split("</fieldset>", 1)[0]
    assert 'class="field field-error"' in response.text.split('id="call_languages"', 1)[0][-60:]
    assert message in fieldset
    assert "Enter a phone number such as" in response.text  # every problem at once
    assert 'value="Seoul"' in response.text  # the values are kept
    db.session.refresh(seoul)
    assert not seoul.calls_spoken and seoul.call_languages == ["ko", "ru"]
