"""Booking on behalf of a caller: the online rules, staff-only services, the email optional."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, AuditEntry, OutboxMessage, Status
from tests.staff.conftest import sign_in

WEDNESDAY = "2026-12-02"
WEDNESDAY_10 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
CALLER = {
    "given_name": "Bolat",
    "family_name": "Serikov",
    "iin": "850502401238",
    "passport_number": "N12345678",
    "email": "",
    "phone": "010-2222-3333",
    "language": "ru",
}


def book_url(*services: str, day: str = WEDNESDAY) -> str:
    chosen = "&".join(f"service={code}" for code in services)
    return f"/staff/seoul/book?{chosen}&day={day}"


def post_booking(clerk, start: datetime = WEDNESDAY_10, services=("passport-renewal",), **fields):
    return clerk.post(book_url(*services), data=CALLER | {"start": start.isoformat()} | fields)


def test_the_form_lists_the_free_times_of_the_chosen_day(clerk) -> None:
    page = clerk.get(book_url("passport-renewal")).text
    assert "Book for a caller" in page
    assert 'value="2026-12-02T10:00:00+09:00"' in page
    assert 'value="2026-12-02T13:00:00+09:00"' not in page  # lunch: the office is closed


def test_a_caller_without_email_is_booked_and_confirmed_at_once(clerk, offices) -> None:
    response = post_booking(clerk)
    assert response.status_code == 302, response.text[:800]
    appointment = db.session.scalar(sa.select(Appointment))
    assert appointment.status == Status.CONFIRMED and appointment.email == ""
    assert appointment.email_key is None and appointment.language == "ru"
    assert response.headers["Location"] == f"/staff/seoul/appointments/{appointment.reference}"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "appointment.booked_for_caller")
    )
    assert entry is not None and entry.after["reference"] == appointment.reference
    assert entry.after["emailed"] is False
    page = clerk.get(response.headers["Location"]).text
    assert f"Booked: {appointment.reference}" in page


def test_a_caller_with_email_gets_the_confirmation_in_their_language(clerk) -> None:
    response = post_booking(clerk, email="bolat@example.com")
    assert response.status_code == 302
    kinds = db.session.scalars(
        sa.select(OutboxMessage.kind).where(OutboxMessage.recipient == "bolat@example.com")
    ).all()
    assert kinds == ["confirmation"]


def test_the_same_rules_apply_as_online(clerk) -> None:
    assert post_booking(clerk).status_code == 302
    # One active booking per IIN and service, as online.
    again = post_booking(clerk, start=WEDNESDAY_10 + timedelta(hours=1))
    assert again.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 1
    # A time in the past is refused with a message, never a 500.
    past = post_booking(clerk, start=datetime(2026, 11, 1, 1, 0, tzinfo=UTC), iin="900101300127")
    assert past.status_code == 422


def test_bad_details_come_back_with_values_kept(clerk) -> None:
    response = post_booking(clerk, iin="123", given_name="Bolat")
    assert response.status_code == 422
    assert 'value="Bolat"' in response.text and 'id="iin-error"' in response.text
    assert 'value="2026-12-02T10:00:00+09:00" checked' in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0


def test_services_only_staff_book_are_offered_here_and_not_online(
    clerk, client, offices, make_service
) -> None:
    seoul, _ = offices
    notary = make_service("notary", duration_minutes=15)
    notary.is_online = False
    seoul.services.append(notary)
    db.session.commit()
    assert "staff only" in clerk.get(book_url()).text
    assert post_booking(clerk, services=("notary",)).status_code == 302
    assert "notary" not in client.get("/book/seoul").text


def test_another_offices_clerk_cannot_book_here(app, accounts) -> None:
    other = app.test_client()
    sign_in(other, accounts["clerk_busan"].email)
    assert other.get(book_url("passport-renewal")).status_code == 404
    assert app.test_client().get(book_url("passport-renewal")).status_code == 302  # sign in
