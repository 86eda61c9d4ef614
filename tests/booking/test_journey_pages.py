"""The citizen pages, driven through the test client: every step, its errors and its guards."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, OutboxMessage, ServiceType, Slot, Status
from tests.conftest import booking_body

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
WEDNESDAY_10 = MONDAY_9 + timedelta(days=2, hours=1)
SATURDAY_10 = MONDAY_9 + timedelta(days=5, hours=1)

APPLICANT = {
    "given_name": "Aigerim",
    "family_name": "Nurlanova",
    "iin": "850502401238",
    "passport_number": "N12345678",
    "email": "aigerim@example.com",
    "phone": "010-1234-5678",
}


@pytest.fixture
def office(make_office, make_service):
    passport = make_service(
        "passport-renewal",
        duration_minutes=30,
        detail_sets=["current_passport"],
        documents={"en": ["Current passport", "Photo"], "ru": ["Паспорт", "Фото"]},
        fee={"en": "Fee paid at the desk"},
    )
    marriage = make_service("marriage-registration", duration_minutes=45, detail_sets=["spouse"])
    return make_office("seoul", services=[passport, marriage])


def details_url(start: datetime, services: str = "passport-renewal") -> str:
    iso = quote(start.astimezone(UTC).isoformat(), safe=":")
    return f"/book/seoul/details?services={services}&start={iso}"


def passport_form(**overrides: str) -> dict[str, str]:
    return APPLICANT | {"current_passport__expiry_date": "2027-03-01"} | overrides


def last_code(recipient: str = "aigerim@example.com") -> str:
    message = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "code")
        .order_by(OutboxMessage.id.desc())
    ).first()
    return re.search(r"\b(\d{6})\b", message.text_body).group(1)


def hold_visit(client, start=WEDNESDAY_10, **overrides) -> str:
    data = passport_form(**overrides) | {
        "services": "passport-renewal",
        "start": start.astimezone(UTC).isoformat(),
    }
    response = client.post("/book/seoul/hold", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"].rsplit("/", 1)[1]


def book_visit(client, start=WEDNESDAY_10) -> str:
    reference = hold_visit(client, start)
    response = client.post(f"/book/hold/{reference}", data={"code": last_code()})
    assert response.status_code == 302
    return reference


# Choosing


def test_home_shows_offices_hours_services_and_both_actions(client, office) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "Office seoul" in page
    assert "09:00–12:30, 14:00–17:00" in page
    assert "Service" in page and 'href="/book"' in page and 'href="/manage"' in page


def test_language_comes_from_the_browser_and_then_from_the_switcher(client, office) -> None:
    assert '<html lang="ru">' in client.get("/", headers={"Accept-Language": "ru"}).text
    response = client.post("/language", data={"language": "ko", "next": "/book"})
    assert response.headers["Location"] == "/book"
    assert '<html lang="ko">' in client.get("/", headers={"Accept-Language": "ru"}).text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil",
        "\\\\evil.example",
        "/\t/evil.example",  # browsers drop the tab: //evil.example
        "/\n/x",  # a line break in a header used to answer 500
        "/\r/evil.example",
        "/\x00/x",
        "/\x1f/evil.example",
        " //evil.example",
    ],
)
def test_the_language_switch_never_redirects_elsewhere(client, office, target) -> None:
    response = client.post("/language", data={"language": "en", "next": target})
    assert response.headers["Location"] == "/"


def test_choosing_no_service_comes_back_with_a_message(client, office) -> None:
    response = client.post("/book/seoul", data={})
    assert response.status_code == 400
    assert "Choose at least one service" in response.text
    chosen = client.post("/book/seoul", data={"service": ["passport-renewal"]})
    assert chosen.headers["Location"].endswith("/book/seoul/time?services=passport-renewal")


def test_the_calendar_marks_free_days_and_preselects_the_first(client, office) -> None:
    page = client.get("/book/seoul/time?services=passport-renewal").text
    assert 'aria-current="date"' in page
    assert "Monday, November 30, 2026" in page  # the first free day is selected
    assert "Saturday, November 28, 2026: no free times" in page.replace("&#39;", "'")
    assert page.count('class="time-button"') >= 10
    assert "Monday, November 30, 2026 at 09:00" in page  # full label for screen readers


def test_unknown_office_or_services_never_fail(client, office) -> None:
    assert client.get("/book/almaty").status_code == 404
    assert client.get("/book/seoul/time?services=nope").status_code == 302
    assert client.get("/book/seoul/time?services=passport-renewal&month=9999-99").status_code == 200
    assert client.get("/book/seoul/details?services=passport-renewal&start=x").status_code == 404


def test_a_closed_office_shows_its_message(client, office) -> None:
    office.booking_open = False
    office.booking_closed_message = {"en": "Closed while we move."}
    db.session.commit()
    page = client.get("/book/seoul").text
    assert "Closed while we move." in page and 'name="service"' not in page


# Details and review


def test_bad_details_come_back_with_values_kept_and_messages_by_each_field(client, office) -> None:
    response = client.post(
        details_url(WEDNESDAY_10), data=passport_form(iin="900101300127", email="nope")
    )
    assert response.status_code == 422
    page = response.text
    assert 'value="Aigerim"' in page and 'value="900101300127"' in page
    assert 'id="iin-error"' in page and 'id="email-error"' in page
    assert 'href="#iin"' in page  # the error summary links to the field
    assert 'aria-invalid="true"' in page


def review_url(start: datetime, services: str = "passport-renewal") -> str:
    return details_url(start, services).replace("/details?", "/review?")


def test_good_details_show_the_review_page_without_booking_anything(client, office) -> None:
    response = client.post(details_url(WEDNESDAY_10), data=passport_form())
    assert response.status_code == 303
    assert response.headers["Location"] == review_url(WEDNESDAY_10)
    review = client.get(response.headers["Location"])
    assert review.status_code == 200
    assert "Check your booking" in review.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0


def test_the_review_checks_every_answer_with_a_change_link_for_each(client, office) -> None:
    client.post(details_url(WEDNESDAY_10), data=passport_form())
    page = client.get(review_url(WEDNESDAY_10)).text
    assert "Step 5 of 6" in page
    # The visit's date written out, its start and end, and how long it takes.
    assert "Wednesday, December 2, 2026" in page and "10:00–10:30" in page
    assert "The visit takes about 30\u00a0minutes." in page
    # Dates typed in the details are written out like the visit's date.
    assert "March 1, 2027" in page and "2027-03-01" not in page.split("<form")[0]
    changes = re.findall(r'<dd class="summary-action"><a href="([^"]+)">', page)
    details = html.escape(details_url(WEDNESDAY_10))
    assert changes[:3] == [
        "/book",
        "/book/seoul?services=passport-renewal",
        "/book/seoul/time?services=passport-renewal&amp;day=2026-12-02&amp;month=2026-12",
    ]
    assert changes[3:] == [
        f"{details}#{name}"
        for name in (*APPLICANT, "current_passport__expiry_date", "current_passport__lost")
    ]


def test_the_review_without_a_draft_goes_back_to_the_details(client, office) -> None:
    response = client.get(review_url(WEDNESDAY_10))
    assert response.status_code == 302
    assert response.headers["Location"] == details_url(WEDNESDAY_10)


def test_every_answer_is_kept_for_the_details_page_and_changes_of_time(client, office) -> None:
    typed = passport_form(iin="not an iin")
    # Change time keeps what was typed, even before it is right.
    response = client.post(details_url(WEDNESDAY_10), data=typed | {"change": "time"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/book/seoul/time?services=passport-renewal")
    later = client.get(details_url(WEDNESDAY_10 + timedelta(hours=2))).text
    for value in ("Aigerim", "not an iin", "N12345678", "2027-03-01"):
        assert f'value="{value}"' in later
    # Back from the review: the details page, with every field as it was sent.
    client.post(details_url(WEDNESDAY_10), data=passport_form())
    back = client.get(details_url(WEDNESDAY_10)).text
    for value in APPLICANT.values():
        assert f'value="{value}"' in back
    assert 'value="2027-03-01"' in back


def test_the_draft_is_discarded_when_the_booking_is_confirmed(client, office) -> None:
    from consular.models import BookingDraft

    client.post(details_url(WEDNESDAY_10), data=passport_form())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BookingDraft)) == 1
    book_visit(client)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BookingDraft)) == 0
    assert client.get(review_url(WEDNESDAY_10)).status_code == 302


def test_the_draft_ends_after_its_lifetime(client, office, clock) -> None:
    from consular.models import BookingDraft

    client.post(details_url(WEDNESDAY_10), data=passport_form())
    clock.advance(minutes=61)
    assert client.get(review_url(WEDNESDAY_10)).status_code == 302
    # The next draft saved, by anyone, deletes the expired ones.
    other = client.application.test_client()
    other.post(details_url(WEDNESDAY_10), data=passport_form(given_name="Dana"))
    answers = db.session.scalars(sa.select(BookingDraft.answers)).all()
    assert [a["given_name"] for a in answers] == ["Dana"]


def language_switcher(page: str) -> tuple[str, dict[str, list[str]]]:
    """The action and hidden fields of the page's language switcher."""
    form = re.search(r'<form class="language-switcher" method="post" action="([^"]+)">(.*?)</form>',
                     page, re.S)  # fmt: skip
    assert form is not None
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                                  form.group(2)):  # fmt: skip
        fields.setdefault(name, []).append(html.unescape(value))
    return html.unescape(form.group(1)), fields


def test_switching_language_on_the_review_page_keeps_the_details(client, office) -> None:
    client.post(details_url(WEDNESDAY_10), data=passport_form())
    review = client.get(review_url(WEDNESDAY_10)).text
    action, fields = language_switcher(review)
    assert action == "/language" and fields["next"] == [review_url(WEDNESDAY_10)]
    again = client.post(action, data=fields | {"language": ["ru"]}, follow_redirects=True)
    assert again.status_code == 200
    assert "Проверьте данные записи" in again.text
    assert APPLICANT["given_name"] in again.text and APPLICANT["iin"] in again.text
    assert client.get("/").text.count('<option value="ru" lang="ru" selected>') == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0


def test_other_pages_switch_language_by_going_back_to_the_same_address(client, office) -> None:
    action, fields = language_switcher(client.get(details_url(WEDNESDAY_10)).text)
    assert action == "/language"
    assert fields["next"] == [details_url(WEDNESDAY_10)]


def test_the_spouse_fields_appear_for_a_marriage(client, office) -> None:
    page = client.get(details_url(WEDNESDAY_10, "marriage-registration")).text
    assert 'name="spouse__given_name"' in page and 'name="spouse__iin"' in page
    assert 'name="current_passport__expiry_date"' not in page


@pytest.mark.parametrize(
    "tampered",
    [
        {"services": "passport-renewal,nope"},
        {"start": "2026-11-30T09:07:00+09:00"},
        {"start": "2020-01-01T09:00:00+09:00"},
        {"given_name": "A" * 100_000},
        {"given_name": "\u202e\u0000"},
        {"iin": "٨٥٠٥٠٢٤٠١٢٣٨"},
    ],
)
def test_tampered_hold_requests_never_fail_or_book(client, office, tampered) -> None:
    data = passport_form() | {
        "services": "passport-renewal",
        "start": WEDNESDAY_10.isoformat(),
    }
    response = client.post("/book/seoul/hold", data=data | tampered)
    assert response.status_code in {404, 409, 422}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0
    assert db.session.scalar(sa.select(sa.func.sum(Slot.booked))) == 0


def test_another_offices_slot_cannot_be_booked(client, office, make_office, make_service) -> None:
    """Busan alone opens on Saturdays: its free 10:00 can't be booked through Seoul's pages."""
    other = make_office(
        "busan", services=[office.services[0]], periods=[(5, time(10), time(12), 1)]
    )
    data = passport_form() | {"services": "passport-renewal", "start": SATURDAY_10.isoformat()}
    refused = client.post("/book/seoul/hold", data=data)
    assert refused.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0
    assert db.session.scalar(sa.select(sa.func.sum(Slot.booked))) == 0
    # The same time is real and free at Busan, so only the office tells the two apart.
    assert client.post(f"/book/{other.code}/hold", data=data).status_code == 302
    booked = db.session.scalar(sa.select(Slot).where(Slot.booked > 0).order_by(Slot.starts_at))
    assert (booked.office_id, booked.starts_at) == (other.id, SATURDAY_10)


# Hold and code


def test_hold_then_code_confirms_the_booking(client, office) -> None:
    reference = hold_visit(client)
    page = client.get(f"/book/hold/{reference}").text
    assert "aigerim@example.com" in page and 'data-countdown="600"' in page
    wrong = client.post(f"/book/hold/{reference}", data={"code": "000000"})
    assert wrong.status_code == 422 and "Attempts left: 4" in wrong.text
    confirmed = client.post(f"/book/hold/{reference}", data={"code": last_code()})
    assert confirmed.headers["Location"] == f"/appointment/{reference}"
    page = client.get(f"/appointment/{reference}").text
    assert reference in page and "<svg" in page
    assert "Current passport" in page and "Fee paid at the desk" in page
    assert "Korean Standard Time" in page


def test_the_code_can_be_sent_again_a_limited_number_of_times(client, office) -> None:
    reference = hold_visit(client)
    first = last_code()
    for _ in range(2):
        client.post(f"/book/hold/{reference}/resend")
    assert client.get(f"/book/hold/{reference}").text.count("Send the code again") == 0
    follow = client.post(f"/book/hold/{reference}/resend", follow_redirects=True)
    assert "cannot be sent again" in follow.text
    codes = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "code")).all()
    assert len(codes) == 3
    if first != last_code():
        wrong = client.post(f"/book/hold/{reference}", data={"code": first})
        assert wrong.status_code == 422  # the earlier code no longer works


def test_an_expired_hold_says_so_and_prefills_the_next_try(client, office, clock) -> None:
    reference = hold_visit(client)
    clock.advance(minutes=11)
    page = client.get(f"/book/hold/{reference}").text
    assert "The time was not booked" in page
    again = client.get(details_url(WEDNESDAY_10 + timedelta(hours=1))).text
    assert 'value="Aigerim"' in again and 'value="2027-03-01"' in again


def test_a_time_taken_meanwhile_offers_the_nearest_free_times(client, office, iins) -> None:
    page = client.post(details_url(WEDNESDAY_10), data=passport_form(), follow_redirects=True)
    assert "Check your booking" in page.text
    for _ in range(2):  # someone else fills both desks through the API
        body = booking_body(
            office,
            [office.services[0]],
            WEDNESDAY_10,
            applicant={"iin": next(iins), "email": "other@example.com"},
            details={"current_passport": {"expiry_date": "2027-01-01"}},
        )
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    data = passport_form() | {"services": "passport-renewal", "start": WEDNESDAY_10.isoformat()}
    response = client.post("/book/seoul/hold", data=data)
    assert response.status_code == 409
    assert "Someone else has just taken this time" in response.text
    assert "10:30" in response.text and 'value="Aigerim"' in response.text


def test_another_browser_cannot_see_a_hold_or_an_appointment(client, office, app) -> None:
    reference = book_visit(client)
    stranger = app.test_client()
    for url in (
        f"/book/hold/{reference}",
        f"/appointment/{reference}",
        f"/appointment/{reference}/calendar.ics",
        f"/appointment/{reference}/reschedule",
    ):
        assert stranger.get(url).status_code == 404
    assert stranger.post(f"/appointment/{reference}/cancel").status_code == 404


# Managing


def test_the_calendar_file_keeps_its_uid_and_raises_its_sequence(client, office) -> None:
    reference = book_visit(client)
    first = client.get(f"/appointment/{reference}/calendar.ics")
    assert first.mimetype == "text/calendar"
    assert f"UID:{reference}@" in first.text and "SEQUENCE:1" in first.text
    page = client.get(f"/appointment/{reference}/reschedule").text
    starts = re.findall(r'name="start" value="([^"]+)"', page)
    moved = client.post(f"/appointment/{reference}/reschedule", data={"start": starts[3]})
    assert moved.status_code == 302
    second = client.get(f"/appointment/{reference}/calendar.ics")
    assert f"UID:{reference}@" in second.text and "SEQUENCE:2" in second.text


def test_reschedule_keeps_the_old_seats_until_the_delay_and_emails(client, office, clock) -> None:
    reference = book_visit(client)
    appointment = db.session.scalar(sa.select(Appointment))
    old_slots = [s.id for s in appointment.slots]
    new_start = (WEDNESDAY_10 + timedelta(days=1)).astimezone(office.zone).isoformat()
    response = client.post(f"/appointment/{reference}/reschedule", data={"start": new_start})
    assert response.status_code == 302
    db.session.expire_all()
    assert appointment.starts_at == WEDNESDAY_10 + timedelta(days=1)
    assert all(db.session.get(Slot, s).booked == 1 for s in old_slots)  # not yet on sale
    kinds = db.session.scalars(sa.select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds[-1] == "change"
    clock.advance(minutes=31)
    page = client.get("/book/seoul/time?services=passport-renewal&day=2026-12-02").text
    assert "Wednesday, December 2, 2026 at 10:00" in page  # the old time is free again


def test_cancel_from_the_page_emails_and_frees_the_time_later(client, office) -> None:
    reference = book_visit(client)
    response = client.post(f"/appointment/{reference}/cancel", data={"reason": "Travel"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Appointment.status)) == Status.CANCELLED
    assert db.session.scalar(sa.select(Appointment.cancel_reason)) == "Travel"
    page = client.get(f"/appointment/{reference}").text
    assert "This appointment is cancelled" in page


def test_manage_by_reference_and_iin(client, office, app) -> None:
    reference = book_visit(client)
    other = app.test_client()
    wrong = other.post("/manage", data={"reference": reference, "iin": "900101300126"})
    assert wrong.status_code == 422 and "No appointment matches" in wrong.text
    typed = reference.lower().replace("-", " ")
    right = other.post("/manage", data={"reference": typed, "iin": "850502401238"})
    assert right.headers["Location"] == f"/appointment/{reference}"
    assert other.get(f"/appointment/{reference}").status_code == 200


def test_the_emailed_link_opens_the_appointment_and_leaves_the_address(client, office, app) -> None:
    book_visit(client)
    confirmation = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "confirmation")
    ).one()
    link = re.search(r"http://consular\.test(/manage/\S+)", confirmation.text_body).group(1)
    other = app.test_client()
    response = other.get(link)
    assert response.status_code == 302 and "/manage/" not in response.headers["Location"]
    assert other.get(link + "x").status_code == 404


def test_confirmation_email_has_calendar_file_and_qr_code(client, office) -> None:
    book_visit(client)
    message = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "confirmation")
    ).one()
    kinds = {a["content_type"].split(";")[0] for a in message.attachments}
    assert kinds == {"text/calendar", "image/png"}
    assert "cid:" in message.html_body
    assert "Current passport" in message.text_body and "Korean Standard Time" in message.text_body


# One rule for the services of a visit, and the office's own calendar


def test_six_services_are_refused_on_the_page_not_cut_to_five(
    client, make_office, make_service
) -> None:
    six = [make_service(f"service-{n}") for n in range(6)]
    make_office("busan", services=six)
    codes = [s.code for s in six]
    response = client.post("/book/busan", data={"service": codes})
    assert response.status_code == 400
    page = response.text
    fieldset = re.search(r"<fieldset.*?</fieldset>", page, re.S).group(0)
    assert 'id="services-error"' in fieldset and "at most five" in fieldset
    assert 'aria-describedby="services-hint services-error"' in fieldset
    assert all(f'value="{code}" id="service-{code}" checked' in fieldset for code in codes)
    # Nor does a hand-made address with six get a calendar for the first five.
    time_page = client.get(f"/book/busan/time?services={','.join(codes)}")
    assert time_page.status_code == 302
    assert time_page.headers["Location"].endswith("/book/busan")
    five = client.post("/book/busan", data={"service": codes[:5]})
    assert five.headers["Location"].endswith(f"/book/busan/time?services={','.join(codes[:5])}")


def test_a_child_born_today_in_korea_is_accepted_before_utc_midnight(
    client, clock, make_office, make_service
) -> None:
    birth = make_service("birth-registration", detail_sets=["child"])
    make_office("seoul", services=[birth])
    clock.set(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))  # 08:30 on 2 December in Seoul
    url = details_url(datetime(2026, 12, 7, 0, 0, tzinfo=UTC), services="birth-registration")
    child = {
        "child__given_name": "Aru",
        "child__family_name": "Nurlanova",
        "child__birth_place": "Seoul",
    }
    today = client.post(
        url, data=APPLICANT | child | {"child__birth_date": "2026-12-02"}, follow_redirects=True
    )
    assert today.status_code == 200 and "Check your booking" in today.text
    tomorrow = client.post(url, data=APPLICANT | child | {"child__birth_date": "2026-12-03"})
    assert tomorrow.status_code == 422
    assert 'id="child__birth_date-error"' in tomorrow.text
    assert "Enter a date in the past." in tomorrow.text


def test_reschedule_offers_exactly_the_times_the_booked_rules_allow(client, office, clock) -> None:
    """The rules an appointment was booked with decide where it may move, on the page and in
    the service alike, even after an administrator changed the service."""
    passport = db.session.scalar(
        sa.select(ServiceType).where(ServiceType.code == "passport-renewal")
    )
    passport.horizon_days = 10
    db.session.commit()
    reference = book_visit(client)
    passport.horizon_days = 60  # changed after the booking: the appointment keeps its rules
    db.session.commit()

    today = clock().astimezone(office.zone).date()
    last_day = today + timedelta(days=10)
    offered: list[str] = []
    for day in (last_day - timedelta(days=1), last_day, last_day + timedelta(days=1)):
        page = client.get(f"/appointment/{reference}/reschedule?day={day.isoformat()}").text
        offered += re.findall(r'name="start" value="([^"]+)"', page)
    days = {datetime.fromisoformat(start).astimezone(office.zone).date() for start in offered}
    assert last_day in days and last_day + timedelta(days=1) not in days
    assert max(days) == last_day

    moved = client.post(f"/appointment/{reference}/reschedule", data={"start": max(offered)})
    assert moved.status_code == 302
    db.session.expire_all()
    appointment = db.session.scalar(sa.select(Appointment))
    assert appointment.starts_at == datetime.fromisoformat(max(offered))


def test_the_code_page_shows_the_reference_and_corrects_a_mistyped_address(client, office) -> None:
    reference = hold_visit(client, email="aigerim@exmaple.com")
    page = client.get(f"/book/hold/{reference}").text
    assert reference in page and "Wrong email address?" in page
    bad = client.post(f"/book/hold/{reference}/email", data={"email": "not an address"})
    assert bad.status_code == 422
    assert 'value="not an address"' in bad.text  # kept, with the message next to it
    assert "Enter an email address such as name@example.com." in bad.text
    fixed = client.post(
        f"/book/hold/{reference}/email",
        data={"email": "aigerim@example.com"},
        follow_redirects=True,
    )
    assert "We have sent a new code to aigerim@example.com" in fixed.text
    appointment = db.session.scalar(
        sa.select(Appointment).where(Appointment.reference == reference)
    )
    assert (appointment.email, appointment.email_key) == ("aigerim@example.com",) * 2
    recipients = db.session.scalars(
        sa.select(OutboxMessage.recipient)
        .where(OutboxMessage.kind == "code")
        .order_by(OutboxMessage.id)
    ).all()
    assert recipients == ["aigerim@exmaple.com", "aigerim@example.com"]
    confirmed = client.post(f"/book/hold/{reference}", data={"code": last_code()})
    assert confirmed.headers["Location"] == f"/appointment/{reference}"


def test_a_second_hold_from_the_same_browser_replaces_the_first(client, office) -> None:
    first = hold_visit(client, email="aigerim@exmaple.com")
    second = hold_visit(client, start=WEDNESDAY_10 + timedelta(hours=1))
    statuses = dict(
        db.session.execute(sa.select(Appointment.reference, Appointment.status)).tuples().all()
    )
    assert statuses == {first: Status.CANCELLED, second: Status.HELD}
    assert db.session.scalar(sa.select(sa.func.sum(Slot.booked))) == 2  # one visit of 30 minutes


def test_five_wrong_codes_end_the_hold_with_that_reason(client, office) -> None:
    reference = hold_visit(client)
    for _ in range(5):
        answer = client.post(f"/book/hold/{reference}", data={"code": "000000"})
    assert answer.status_code == 410
    assert "<title>The time was not booked" in answer.text
    assert "A wrong code was entered too many times" in answer.text
    assert "The hold has ended before the code was entered" not in answer.text


def test_an_ended_hold_page_is_titled_as_it_reads(client, office, clock) -> None:
    reference = hold_visit(client)
    clock.advance(minutes=11)
    page = client.get(f"/book/hold/{reference}").text
    assert "<title>The time was not booked" in page
    assert "The hold has ended before the code was entered" in page


def test_the_error_summary_names_each_field_once_and_says_whose(client, make_service, office):
    parents = make_service("birth-registration", detail_sets=["parents"])
    office.services.append(parents)
    db.session.commit()
    response = client.post(
        details_url(WEDNESDAY_10, "birth-registration"),
        data=APPLICANT | {"iin": "123", "mother__iin": "123", "father__birth_date": "bad"},
    )
    assert response.status_code == 422
    summary = response.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    items = [html.unescape(i) for i in re.findall(r'<a href="#[^"]+">([^<]+)</a>', summary)]
    assert "Enter a valid 12-digit IIN." in items  # the applicant's, without its label
    assert "Mother's IIN: Enter a valid 12-digit IIN." in items
    assert "Father's given name as in the passport: Enter this detail." in items
    assert not any(item.startswith("IIN (individual") for item in items)


def test_reschedule_marks_the_current_time_and_never_offers_it(client, office) -> None:
    reference = book_visit(client)
    page = client.get(f"/appointment/{reference}/reschedule?day=2026-12-02").text
    assert "<title>Choose a new time" in page and "<h1>Choose a new time</h1>" in page
    assert "10:00: your current time" in page
    offered = [datetime.fromisoformat(html.unescape(v))
               for v in re.findall(r'name="start" value="([^"]+)"', page)]  # fmt: skip
    assert offered and WEDNESDAY_10 not in offered


def test_a_lost_passport_needs_no_expiry_date(client, office) -> None:
    without = passport_form(current_passport__expiry_date="")
    refused = client.post(details_url(WEDNESDAY_10), data=without)
    assert refused.status_code == 422 and 'id="current_passport__expiry_date-error"' in refused.text
    lost = client.post(details_url(WEDNESDAY_10), data=without | {"current_passport__lost": "y"})
    assert lost.status_code == 303
    review = client.get(lost.headers["Location"]).text
    assert "The passport was lost or stolen" in review
    reference = hold_visit(client, current_passport__expiry_date="", current_passport__lost="y")
    appointment = db.session.scalar(
        sa.select(Appointment).where(Appointment.reference == reference)
    )
    assert appointment.details["current_passport"] == {"lost": "yes"}


@pytest.mark.parametrize("language", ["kk", "ru", "en", "ko"])
def test_the_services_page_and_the_confirmation_say_what_to_know_before_going(
    client, office, language
) -> None:
    office.address = {"en": "1 Demo-daero, Jung-gu, Seoul", "ko": "서울특별시 중구 데모대로 1"}
    office.postal_code = "04520"
    office.phone = "+82 2 000 0000"
    db.session.commit()
    reference = book_visit(client)
    headers = {"Accept-Language": language}
    for url in ("/book/seoul", f"/appointment/{reference}"):
        page = client.get(url, headers=headers).text
        # The Korean address, whatever the page's language, marked as Korean for screen readers.
        korean = '<span lang="ko" class="address-ko">(04520) 서울특별시 중구 데모대로 1</span>'
        assert korean in page
        assert 'href="tel:+82 2 000 0000"' in page
        assert "09:00–12:30, 14:00–17:00" in page  # the opening hours
        assert "Fee paid at the desk" in page  # the service's fee text
        if language == "en":
            assert "More than 15\u00a0minutes after your time, the booking may be marked" in page
