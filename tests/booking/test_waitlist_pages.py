"""The citizen's waiting-list pages: where the list is offered, the form to join and its
code, the entry with its place, an offer claimed or declined, and what staff see."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import (
    Appointment,
    OutboxMessage,
    Role,
    Status,
    User,
    WaitlistEntry,
    WaitStatus,
)
from consular.services import booking
from consular.services.passwords import hash_password
from tests.conftest import SECRET, booking_body
from tests.staff.conftest import PASSWORD, sign_in

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
BOOKING = booking.BookingPolicy(secret=SECRET, hold_minutes=10, release_delay_minutes=30)


@pytest.fixture
def service(make_service):
    return make_service(
        "passport-renewal",
        cutoff_hours=1,
        horizon_days=6,  # this week only
        detail_sets=["current_passport"],
        waitlist_mode="fifo",
    )


@pytest.fixture
def office(make_office, service):
    """One seat a day at 09:00, Monday to Friday."""
    return make_office("busan", periods=[(d, time(9), time(9, 15), 1) for d in range(5)],
                       services=[service])  # fmt: skip


@pytest.fixture
def full_week(office, service, clock, iins) -> list[Appointment]:
    visits = []
    for day in range(5):
        applicant = {"iin": next(iins), "email": f"p{day}@example.com"}
        details = {"current_passport": {"expiry_date": "2027-03-01"}}
        start = MONDAY_9 + timedelta(days=day)
        body = booking_body(office, [service], start, applicant=applicant, details=details)
        request = booking.parse_booking_request(db.session, body, clock(), BOOKING)
        placed = booking.place_hold(db.session, request, clock(), BOOKING)
        visits.append(booking.confirm_hold(db.session, placed.appointment, placed.code, clock(),
                                           BOOKING))  # fmt: skip
    db.session.commit()
    return visits


JOIN = "/waitlist/join/busan?services=passport-renewal"


def join_form(n: int = 1, **changes: str) -> dict[str, str]:
    form = {
        "first_day": "2026-11-30",
        "last_day": "2026-12-04",
        "given_name": "Aigerim",
        "family_name": "Nurlanova",
        "iin": ["850502401238", "900101300027", "900101300126"][n - 1],
        "passport_number": "N12345678",
        "email": f"aigerim{n}@example.com",
        "phone": f"010-1234-567{n}",
        "current_passport__expiry_date": "2027-03-01",
    }
    form.update(changes)
    return form


def last_mail(recipient: str, kind: str) -> str:
    body = db.session.scalars(
        sa.select(OutboxMessage.text_body)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == kind)
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert body is not None, (recipient, kind)
    return body


def join(client, n: int = 1) -> str:
    """Join through the pages and enter the code; the entry page's address."""
    response = client.post(JOIN, data=join_form(n))
    assert response.status_code == 302, response.text
    page = response.headers["Location"]
    code = re.search(r"\b(\d{6})\b", last_mail(f"aigerim{n}@example.com", "waitlist_code"))
    assert code is not None
    assert client.post(page, data={"code": code.group(1)}).status_code == 302
    return page


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_time_page_offers_the_list_when_nothing_is_free(client, full_week) -> None:
    page = text_of(client.get("/book/busan/time?services=passport-renewal").text)
    assert "There are no free times at the moment." in page
    assert "Join the waiting list" in page
    assert (
        'href="/waitlist/join/busan?services=passport-renewal"'
        in client.get("/book/busan/time?services=passport-renewal").text
    )


def test_a_service_without_a_list_offers_none(client, make_service, make_office) -> None:
    plain = make_service("visa", cutoff_hours=1)
    make_office("seoul", services=[plain])
    assert "waitlist" not in client.get("/book/seoul/time?services=visa").text
    assert client.get("/waitlist/join/seoul?services=visa").status_code == 404


def test_the_form_comes_back_with_every_problem_by_its_field_and_the_values_kept(
    client, full_week
) -> None:
    response = client.post(
        JOIN, data=join_form(iin="850502401239", first_day="2026-12-04", last_day="2026-12-01")
    )
    assert response.status_code == 422
    page = text_of(response.text)
    assert "Enter a valid 12-digit IIN." in page
    assert "The last day can't be before the first day." in page
    assert 'value="850502401239"' in response.text and 'value="Nurlanova"' in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WaitlistEntry)) == 0


def test_joining_sends_a_code_and_the_page_shows_the_place(client, full_week) -> None:
    page = join(client)
    shown = text_of(client.get(page).text)
    assert "You are on the waiting list" in shown and "You are number 1 in line." in shown
    other = join(client, 2)
    assert "You are number 2 in line." in text_of(client.get(other).text)
    entry = db.session.scalar(sa.select(WaitlistEntry).where(WaitlistEntry.iin == "850502401238"))
    assert entry.status == WaitStatus.WAITING
    assert entry.details == {"current_passport": {"expiry_date": "2027-03-01"}}


def test_a_second_place_of_the_same_person_is_refused_plainly(client, full_week) -> None:
    join(client)
    again = client.post(JOIN, data=join_form(2, iin="850502401238"))
    assert again.status_code == 422
    assert "This IIN is already on this office's waiting list." in text_of(again.text)


def test_another_browser_cannot_see_an_entry(client, app, full_week) -> None:
    page = join(client)
    assert app.test_client().get(page).status_code == 404


def test_a_cancellation_offers_the_seat_and_the_link_claims_it(
    client, app, full_week, clock
) -> None:
    page = join(client)
    booking.cancel_appointment(db.session, full_week[2], "", clock(), BOOKING)
    db.session.commit()
    offer = last_mail("aigerim1@example.com", "waitlist_offered")
    link = re.search(r"(/waitlist/[A-Z]{3}-W-\w+/\S+)", offer)
    assert link is not None
    elsewhere = app.test_client()  # the e-mail opened on another device
    opened = elsewhere.get(link.group(1))
    assert opened.status_code == 302 and opened.headers["Location"] == page
    shown = text_of(elsewhere.get(page).text)
    assert "A seat is waiting for you" in shown and "Wednesday, December 2, 2026" in shown
    claimed = elsewhere.post(f"{page}/claim")
    assert claimed.status_code == 302
    assert claimed.headers["Location"].startswith("/appointment/")
    appointment = db.session.scalar(sa.select(Appointment).where(Appointment.iin == "850502401238"))
    assert appointment.status == Status.CONFIRMED
    assert "Your appointment is booked" in text_of(elsewhere.get(page).text)


def test_declining_gives_the_seat_to_the_next_one(client, full_week, clock) -> None:
    first = join(client, 1)
    join(client, 2)
    booking.cancel_appointment(db.session, full_week[1], "", clock(), BOOKING)
    db.session.commit()
    assert client.post(f"{first}/leave").status_code == 302
    assert "You have left the waiting list" in text_of(client.get(first).text)
    second = db.session.scalar(sa.select(WaitlistEntry).where(WaitlistEntry.iin == "900101300027"))
    assert second.status == WaitStatus.OFFERED


def test_staff_see_how_many_wait(client, app, office, service, full_week) -> None:
    clerk = User(email="clerk@example.org", name="Clerk", role=Role.CLERK, offices=[office],
                 password_hash=hash_password(PASSWORD))  # fmt: skip
    db.session.add(clerk)
    db.session.commit()
    join(client)
    staff = app.test_client()
    assert sign_in(staff, clerk.email).status_code == 302
    page = text_of(staff.get("/staff/busan/waitlist").text)
    assert f"{service.display_name('en')} First come, first served 1" in page
    assert "No seat is held for anyone on the list now." in page
