"""The calendar file: the office organises the event, its URL opens the appointment, and once
the appointment is cancelled the file (on the cancelled page and in the e-mail) removes the
event: the same UID, a higher SEQUENCE, METHOD:CANCEL and STATUS:CANCELLED."""

from __future__ import annotations

import re

import icalendar
import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import OutboxMessage
from tests.booking.test_journey_pages import book_visit, hold_visit

OFFICE_EMAIL = "seoul@consular.test"
OFFICE_NAME = {"en": "Embassy of Kazakhstan, consular section", "ru": "Консульский отдел"}


@pytest.fixture
def office(make_office, make_service):
    passport = make_service(
        "passport-renewal", duration_minutes=30, detail_sets=["current_passport"]
    )
    office = make_office("seoul", services=[passport])
    office.email, office.name = OFFICE_EMAIL, OFFICE_NAME
    db.session.commit()
    return office


def event_of(text: str) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(text)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def download(client, reference: str) -> tuple[icalendar.Calendar, icalendar.Event, str]:
    response = client.get(f"/appointment/{reference}/calendar.ics")
    assert response.status_code == 200
    return *event_of(response.text), response.headers["Content-Type"]


def emailed_calendar(kind: str) -> tuple[OutboxMessage, icalendar.Event]:
    message = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    ).all()[-1]
    [attachment] = [a for a in message.attachments if a["filename"].endswith(".ics")]
    return message, event_of(attachment["content"])[1]


def manage_link(text_body: str) -> str:
    found = re.search(r"http://consular\.test/manage/\S+", text_body)
    assert found is not None, text_body
    return found.group(0)


def test_the_office_organises_the_event_and_its_url_opens_the_appointment(
    app, client, office
) -> None:
    reference = book_visit(client)

    calendar, event, content_type = download(client, reference)

    assert content_type == "text/calendar; charset=utf-8; method=PUBLISH"
    assert calendar["METHOD"] == "PUBLISH" and event["STATUS"] == "CONFIRMED"
    assert str(event["ORGANIZER"]) == f"mailto:{OFFICE_EMAIL}"
    assert event["ORGANIZER"].params["CN"] == OFFICE_NAME["en"]
    # The link works in another browser, as the link in the e-mail does.
    link = str(event["URL"])
    assert link.startswith(f"http://consular.test/manage/{reference}/")
    other = app.test_client()
    opened = other.get(link.removeprefix("http://consular.test"))
    assert opened.headers["Location"] == f"/appointment/{reference}"
    assert reference in other.get(f"/appointment/{reference}").text


def test_the_emailed_calendar_names_the_office_and_the_emails_own_link(client, office) -> None:
    book_visit(client)

    message, event = emailed_calendar("confirmation")

    assert str(event["ORGANIZER"]) == f"mailto:{OFFICE_EMAIL}"
    assert event["ORGANIZER"].params["CN"] == OFFICE_NAME["en"]
    assert str(event["URL"]) == manage_link(message.text_body)


def test_the_cancelled_page_offers_a_file_that_removes_the_event(client, office) -> None:
    reference = book_visit(client)
    _, booked, _ = download(client, reference)

    cancelled = client.post(f"/appointment/{reference}/cancel", data={"reason": ""})
    page = client.get(cancelled.headers["Location"]).text

    assert "This appointment is cancelled" in page
    assert f'href="/appointment/{reference}/calendar.ics" download>Remove from calendar' in page
    calendar, event, content_type = download(client, reference)
    assert content_type == "text/calendar; charset=utf-8; method=CANCEL"
    assert calendar["METHOD"] == "CANCEL" and event["STATUS"] == "CANCELLED"
    assert event["UID"] == booked["UID"]
    assert event["SEQUENCE"] > booked["SEQUENCE"]
    assert event["DTSTART"].dt == booked["DTSTART"].dt
    assert str(event["ORGANIZER"]) == f"mailto:{OFFICE_EMAIL}"
    assert "VALARM" not in event.to_ical().decode()
    # The e-mail about the cancellation carries the same.
    _, emailed = emailed_calendar("cancellation")
    assert emailed["UID"] == booked["UID"] and emailed["SEQUENCE"] == event["SEQUENCE"]
    assert emailed["STATUS"] == "CANCELLED"


def test_a_hold_cancelled_before_it_was_booked_offers_no_calendar_file(client, office) -> None:
    reference = hold_visit(client)
    client.post(f"/appointment/{reference}/cancel", data={"reason": ""})

    page = client.get(f"/appointment/{reference}").text

    assert "This appointment is cancelled" in page
    assert "calendar.ics" not in page


def test_an_office_without_an_address_organises_from_the_configured_sender(
    app, client, office
) -> None:
    office.email = ""
    db.session.commit()
    app.config["MAIL_SENDER"] = "Consular appointments <no-reply@consular.test>"
    reference = book_visit(client)

    _, event, _ = download(client, reference)

    assert str(event["ORGANIZER"]) == "mailto:no-reply@consular.test"
