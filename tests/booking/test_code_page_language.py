"""Switching language on the code page (where the e-mailed code is entered) changes the
language of the e-mails still to come: the code sent again, the confirmation, the reminders
and the cancellation. Only this browser's hold changes, and only while it is a hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from consular.extensions import db
from consular.models import Appointment, OutboxMessage, Status
from consular.services import booking
from consular.services.reminders import send_due_reminders
from tests.booking.test_journey_pages import WEDNESDAY_10, hold_visit, last_code
from tests.conftest import SECRET

POLICY = booking.BookingPolicy(secret=SECRET)


@pytest.fixture
def office(make_office, make_service):
    passport = make_service(
        "passport-renewal",
        duration_minutes=30,
        detail_sets=["current_passport"],
        cutoff_hours=1,
    )
    office = make_office("seoul", services=[passport])
    office.name = {"en": "Consular section", "ru": "Консульский отдел", "kk": "Консулдық бөлім"}
    db.session.commit()
    return office


def appointment_of(reference: str) -> Appointment:
    found = db.session.scalar(
        sa.select(Appointment)
        .where(Appointment.reference == reference)
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


def newest(kind: str) -> OutboxMessage:
    message = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    ).all()[-1]
    return message


def in_language(language: str, message: str, **values: object) -> str:
    with force_locale(language):
        return gettext(message, **values)


def switch_language(client, language: str, page: str):
    return client.post("/language", data={"language": language, "next": page})


def test_the_emails_after_a_switch_on_the_code_page_come_in_the_new_language(
    client, office, clock
) -> None:
    reference = hold_visit(client)
    assert appointment_of(reference).language == "en"
    assert newest("code").language == "en"

    switched = switch_language(client, "ru", f"/book/hold/{reference}")

    assert switched.headers["Location"] == f"/book/hold/{reference}"
    assert appointment_of(reference).language == "ru"
    page = client.get(f"/book/hold/{reference}").text
    assert '<html lang="ru">' in page
    # The code sent again comes in Russian.
    client.post(f"/book/hold/{reference}/resend")
    code_email = newest("code")
    assert code_email.language == "ru" and code_email.sender_name == "Консульский отдел"
    assert code_email.subject == in_language(
        "ru", "Your confirmation code: %(code)s", code=last_code()
    )
    # So do the confirmation, the reminder and the cancellation.
    client.post(f"/book/hold/{reference}", data={"code": last_code()})
    assert appointment_of(reference).status == Status.CONFIRMED
    confirmation = newest("confirmation")
    assert confirmation.language == "ru"
    assert confirmation.subject == in_language(
        "ru", "Appointment confirmed: %(reference)s", reference=reference
    )
    clock.set(WEDNESDAY_10 - timedelta(days=1, minutes=30))
    assert send_due_reminders(db.session, clock(), POLICY) == 1
    db.session.commit()
    reminder = newest("reminder")
    assert reminder.language == "ru"
    assert in_language("ru", "Your consular appointment is coming up. Here are its details.") in (
        reminder.text_body
    )
    client.post(f"/appointment/{reference}/cancel", data={"reason": ""})
    cancellation = newest("cancellation")
    assert cancellation.language == "ru"
    assert in_language("ru", "Your appointment has been cancelled.") in cancellation.text_body


def test_a_switch_on_another_page_leaves_the_hold_as_it_was(client, office) -> None:
    reference = hold_visit(client)

    switch_language(client, "kk", "/book")
    switch_language(client, "kk", f"/appointment/{reference}")
    switch_language(client, "kk", f"/book/hold/{reference}/resend")

    assert appointment_of(reference).language == "en"
    client.post(f"/book/hold/{reference}", data={"code": last_code()})
    assert newest("confirmation").language == "en"


def test_another_browser_cannot_change_the_language_of_a_hold(app, client, office) -> None:
    reference = hold_visit(client)
    stranger = app.test_client()

    response = switch_language(stranger, "ru", f"/book/hold/{reference}")

    assert response.status_code == 302
    assert appointment_of(reference).language == "en"


def test_once_booked_a_switch_changes_nothing_of_the_appointment(client, office) -> None:
    reference = hold_visit(client)
    client.post(f"/book/hold/{reference}", data={"code": last_code()})

    switch_language(client, "ru", f"/book/hold/{reference}")

    assert appointment_of(reference).language == "en"
    assert '<html lang="ru">' in client.get(f"/appointment/{reference}").text


@pytest.mark.parametrize("target", ["/book/hold/", "/book/hold/NOPE-123456", "//evil.example"])
def test_a_switch_with_any_address_never_fails(client, office, target) -> None:
    hold_visit(client)

    response = switch_language(client, "ru", target)

    assert response.status_code == 302
