"""The citizen's lottery pages: where a lottery is announced, the entry form and its code, the
entry and its result, confirming or declining the offered seat."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import (
    Appointment,
    EntryStatus,
    LotteryEntry,
    LotteryRelease,
    OutboxMessage,
    Status,
)
from consular.services import lottery

MONDAY_14 = date(2026, 12, 14)
MONDAY_14_9 = datetime(2026, 12, 14, 0, 0, tzinfo=UTC)


@pytest.fixture
def service(make_service):
    return make_service("passport-renewal", min_notice_hours=24, detail_sets=["current_passport"])


@pytest.fixture
def office(make_office, service):
    hours = [(weekday, time(9), time(10), 1) for weekday in range(5)]
    return make_office("seoul", periods=hours, services=[service])


@pytest.fixture
def release(office, service, clock) -> LotteryRelease:
    now = clock()
    made = lottery.create_release(
        db.session,
        None,
        now,
        lottery.ReleaseData(
            office_id=office.id,
            service_ids=[service.id],
            first_day=MONDAY_14,
            last_day=MONDAY_14 + timedelta(days=1),
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(days=1),
            draw_at=now + timedelta(days=1),
            confirm_hours=48,
        ),
    )
    db.session.commit()
    return made


def entry_form(n: int = 1, **changes: str) -> dict[str, str]:
    form = {
        "given_name": "Aigerim",
        "family_name": "Nurlanova",
        "iin": ["850502401238", "900101300027", "900101300126"][n - 1],
        "passport_number": "N12345678",
        "email": f"aigerim{n}@example.com",
        "phone": f"010-1234-567{n}",
        "current_passport__expiry_date": "2027-03-01",
        "preference_day_1": "2026-12-15",
        "preference_part_1": "morning",
        "accept_any": "y",
    }
    form.update(changes)
    return form


def last_code(recipient: str) -> str:
    body = db.session.scalars(
        sa.select(OutboxMessage.text_body)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "lottery_code")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert body is not None
    found = re.search(r": (\d{6})", body)
    assert found is not None
    return found.group(1)


def enter(client, release, n: int = 1, **changes: str) -> str:
    """Enter through the pages and confirm the code; the entry's page address."""
    response = client.post(
        f"/lottery/{release.id}/enter?services=passport-renewal", data=entry_form(n, **changes)
    )
    assert response.status_code == 302, response.text
    page = response.headers["Location"]
    confirmed = client.post(page, data={"code": last_code(f"aigerim{n}@example.com")})
    assert confirmed.status_code == 302, confirmed.text
    return page


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# Where citizens hear of a lottery


def test_the_home_and_services_pages_announce_the_lottery_with_its_times(client, release) -> None:
    for url in ("/", "/book/seoul"):
        page = text_of(client.get(url).text)
        assert "By lottery: Service 1 on Monday, December 14, 2026 to Tuesday, December 15" in page
        assert "entries are taken from Sunday, November 29, 2026 at 11:00" in page
        assert "the draw is on Monday, November 30, 2026 at 12:00" in page
    assert f'href="/lottery/{release.id}"' in client.get("/").text


def test_the_calendar_marks_the_lottery_days_and_offers_no_time_on_them(client, release) -> None:
    page = client.get("/book/seoul/time?services=passport-renewal&month=2026-12").text

    assert page.count('class="day-lottery"') == 2
    assert 'aria-label="Monday, December 14, 2026: by lottery"' in page
    assert "start=2026-12-14" not in page and "start=2026-12-15" not in page
    asked_for_a_lottery_day = client.get(
        "/book/seoul/time?services=passport-renewal&month=2026-12&day=2026-12-14"
    ).text
    assert "start=2026-12-14" not in asked_for_a_lottery_day
    next_day = client.get("/book/seoul/time?services=passport-renewal&month=2026-12&day=2026-12-16")
    assert "start=2026-12-16" in next_day.text


def test_the_release_page_says_what_happens_and_when(client, release) -> None:
    page = text_of(client.get(f"/lottery/{release.id}").text)

    assert "Open for entries" in page and "Enter the draw" in page
    assert "0 entries so far." in page
    assert "must confirm within 48 hours" in page


def test_a_hold_on_a_lottery_day_is_refused_on_the_pages_with_the_lottery_times(
    client, release
) -> None:
    response = client.post(
        "/book/seoul/hold",
        data=entry_form() | {"services": "passport-renewal", "start": "2026-12-14T09:00:00+09:00"},
    )
    assert response.status_code == 409
    assert "given out by a lottery draw" in text_of(response.text)


# Entering


def test_entering_sends_a_code_and_the_entry_is_in_the_draw_once_it_is_entered(
    client, release
) -> None:
    response = client.post(
        f"/lottery/{release.id}/enter?services=passport-renewal", data=entry_form()
    )
    assert response.status_code == 302
    page = response.headers["Location"]
    assert "Enter the code from your email" in client.get(page).text

    wrong = client.post(page, data={"code": "000000"})
    assert wrong.status_code == 422 and "Attempts left: 4" in wrong.text
    confirmed = client.post(page, data={"code": last_code("aigerim1@example.com")})
    assert confirmed.status_code == 302
    shown = text_of(client.get(page).text)
    assert "You are in the draw" in shown
    assert "Tuesday, December 15, 2026, morning" in shown
    entry = db.session.scalar(sa.select(LotteryEntry))
    assert entry.status == EntryStatus.ENTERED
    assert entry.details == {"current_passport": {"expiry_date": "2027-03-01"}}


def test_the_entry_form_shows_every_problem_by_its_field(client, release) -> None:
    response = client.post(
        f"/lottery/{release.id}/enter?services=passport-renewal",
        data=entry_form(iin="850502401239", preference_day_1="2026-12-20", accept_any=""),
    )
    assert response.status_code == 422
    page = text_of(response.text)
    assert "Enter a valid 12-digit IIN." in page
    assert "Choose days of this lottery and a part of the day for each preference." in page


def test_a_second_entry_of_the_same_person_is_refused_plainly(client, release) -> None:
    enter(client, release)
    again = client.post(
        f"/lottery/{release.id}/enter?services=passport-renewal",
        data=entry_form(2, iin="850502401238"),
    )
    assert again.status_code == 422
    assert "There is already an entry for this IIN in this lottery." in again.text


def test_another_browser_cannot_see_an_entry(client, app, release) -> None:
    page = enter(client, release)
    assert app.test_client().get(page).status_code == 404


def test_an_entry_can_be_withdrawn_and_the_waiting_list_wish_recorded(client, release) -> None:
    page = enter(client, release)
    client.post(f"{page}/waitlist", data={"wanted": "1"})
    entry = db.session.scalar(sa.select(LotteryEntry))
    db.session.refresh(entry)
    assert entry.wants_waitlist

    client.post(f"{page}/withdraw")
    db.session.refresh(entry)
    assert entry.status == EntryStatus.WITHDRAWN
    assert "You have withdrawn this entry" in client.get(page).text


def test_a_closed_lottery_takes_no_entry(client, release, clock) -> None:
    clock.set(release.closes_at)
    response = client.get(f"/lottery/{release.id}/enter")
    assert response.status_code == 302
    assert "Entries are closed" in text_of(client.get(f"/lottery/{release.id}").text)


# The result


def draw(release, clock, app) -> None:
    clock.set(release.draw_at)
    result = lottery.draw(db.session, release.id, clock(), lottery.policy_from_config(app.config))
    db.session.commit()
    assert result is not None


def test_the_winner_confirms_from_the_entry_page_and_gets_the_appointment_page(
    client, app, release, clock
) -> None:
    page = enter(client, release)
    draw(release, clock, app)

    shown = text_of(client.get(page).text)
    assert "The draw has given you an appointment" in shown
    assert "Confirm it by Wednesday, December 2, 2026 at 12:00" in shown
    assert "Place in the draw 1 of 1" in shown
    confirmed = client.post(f"{page}/confirm")
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"].startswith("/appointment/")
    appointment_page = client.get(confirmed.headers["Location"])
    assert appointment_page.status_code == 200
    assert db.session.scalar(sa.select(Appointment.status)) == Status.CONFIRMED


def test_a_winner_can_decline_and_the_seat_is_given_back_at_once(
    client, app, release, clock
) -> None:
    page = enter(client, release)
    draw(release, clock, app)

    declined = client.post(f"{page}/decline", follow_redirects=True)

    assert "You have declined the appointment. It goes to the next person in line." in (
        declined.text
    )
    entry = db.session.scalar(sa.select(LotteryEntry))
    db.session.refresh(entry)
    assert entry.status == EntryStatus.DECLINED
    assert entry.appointment.status == Status.CANCELLED
    assert "The draw is over for this entry" in client.get(page).text


def test_the_link_in_an_email_opens_the_entry_in_any_browser(client, app, release) -> None:
    enter(client, release)
    body = db.session.scalars(
        sa.select(OutboxMessage.text_body).where(OutboxMessage.kind == "lottery_entered")
    ).one()
    link = re.search(r"http://consular\.test(/lottery/entries/\S+)", body)
    assert link is not None
    other = app.test_client()
    opened = other.get(link.group(1))
    assert opened.status_code == 302
    assert other.get(opened.headers["Location"]).status_code == 200
    assert other.get(link.group(1) + "x").status_code == 404
