"""The waiting list in a real browser, in each language: joined from the time page for a day
with nothing free, the code, the place in line; then a seat frees, the e-mail's link opens the
offer (on another device) and the citizen claims it. Every page is checked with axe-core and
fits the screen.

Every step saves a full-page screenshot to artifacts/screenshots/<test>/<nn>-<step>.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from consular.extensions import db
from consular.models import Office, ServiceType, Slot
from consular.services import waitlist
from consular.services.schedule import local_day_bounds, set_slot_blocked
from tests.browser.conftest import LiveServer, Screenshots
from tests.browser.test_booking_journey import APPLICANT, assert_accessible, assert_fits_the_screen

pytestmark = pytest.mark.slow

# The test clock is Sunday 2026-11-29 12:00 in Seoul; the citizen waits for Tuesday 8 December.
WAITED_DAY = date(2026, 12, 8)
LANGUAGES = ["kk", "ru", "en", "ko"]


def _day_slots(office: Office) -> list[Slot]:
    start, end = local_day_bounds(WAITED_DAY, office.zone)
    return list(
        db.session.scalars(
            sa.select(Slot)
            .where(Slot.office_id == office.id, Slot.starts_at >= start, Slot.starts_at < end)
            .order_by(Slot.starts_at)
        )
    )


@pytest.fixture
def full_day(live_server: LiveServer) -> None:
    """Seoul's passport renewals have a first-come list, and the waited day is closed."""
    with live_server.app.app_context():
        service = db.session.scalar(
            sa.select(ServiceType).where(ServiceType.code == "passport-renewal")
        )
        service.waitlist_mode = "fifo"
        office = db.session.scalar(sa.select(Office).where(Office.code == "seoul"))
        for slot in _day_slots(office):
            set_slot_blocked(db.session, slot, True, None, live_server.clock())  # type: ignore[arg-type]
        db.session.commit()
        db.session.remove()


def free_a_seat(live_server: LiveServer) -> None:
    """The day opens again, and the scheduler runs `flask waitlist advance`: the seat goes to
    the one waiting before anyone else sees it."""
    with live_server.app.app_context():
        office = db.session.scalar(sa.select(Office).where(Office.code == "seoul"))
        now = live_server.clock()
        for slot in _day_slots(office):
            set_slot_blocked(db.session, slot, False, None, now)  # type: ignore[arg-type]
        result = waitlist.advance(
            db.session, office, now, waitlist.policy_from_config(live_server.app.config)
        )
        assert result.offered == 1
        db.session.commit()
        db.session.remove()


def checkpoint(page: Page, shots: Screenshots, step: str) -> None:
    shots.take_of(page, step)
    assert_accessible(page)
    assert_fits_the_screen(page)


@pytest.mark.parametrize("language", LANGUAGES)
def test_joining_the_waiting_list_and_claiming_the_seat_it_offers(
    page: Page,
    browser: Browser,
    shots: Screenshots,
    live_server: LiveServer,
    full_day: None,
    texts: Callable,
    language: str,
) -> None:
    t = texts(language)
    if language != "en":
        assert t("Join the waiting list") != "Join the waiting list", "not translated"
    email = f"waiting-{language}@example.com"
    page.goto("/")
    page.wait_for_load_state("networkidle")
    page.locator("#language-select").select_option(language)
    expect(page.locator("html")).to_have_attribute("lang", language)
    page.goto("/book/seoul/time?services=passport-renewal")
    page.get_by_role("link", name=t("Join the waiting list for the days you can come")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Join the waiting list"))
    checkpoint(page, shots, "join")

    submit = page.get_by_role("button", name=t("Join the list and send the code"))
    page.locator("#first_day").fill("")
    submit.click()
    expect(page.get_by_role("alert")).to_be_focused()
    checkpoint(page, shots, "join-errors")
    page.locator("#first_day").fill(WAITED_DAY.isoformat())
    page.locator("#last_day").fill(WAITED_DAY.isoformat())
    for name, value in APPLICANT.items():
        page.locator(f"#{name}").fill(value)
    page.locator("#email").fill(email)
    if page.locator("#current_passport__expiry_date").count():
        page.locator("#current_passport__expiry_date").fill("2027-03-01")
    submit.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(t("Enter the code from your email"))
    page.locator("#code").fill(live_server.latest_code(email))
    page.get_by_role("button", name=t("Join the waiting list")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("You are on the waiting list"))
    expect(page.get_by_role("status").first).to_contain_text(
        t("You are on the waiting list. We have sent you an email.")
    )
    expect(page.locator("main")).to_contain_text(t("You are number %(place)d in line.", place=1))
    checkpoint(page, shots, "waiting")

    free_a_seat(live_server)
    live_server.deliver_mail()
    offer = live_server.emails_to(email)[-1]
    reference = page.url.rsplit("/", 1)[1]
    assert str(offer["Subject"]) == t("A seat for you: %(reference)s", reference=reference)
    body = offer.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"https?://\S+/waitlist/\S+", body.get_content())
    assert link is not None

    # The e-mail is read on the phone: another browser, with the language of the e-mail.
    phone = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    other = phone.new_page()
    try:
        other.goto(link.group(0).replace(live_server.app.config["PUBLIC_BASE_URL"], ""))
        other.wait_for_load_state("networkidle")
        other.locator("#language-select").select_option(language)
        expect(other.locator("html")).to_have_attribute("lang", language)
        expect(other.get_by_role("heading", level=1)).to_have_text(t("A seat is waiting for you"))
        checkpoint(other, shots, "offer")
        other.get_by_role("button", name=t("Claim the appointment")).click()
        expect(other.get_by_role("status").first).to_contain_text(
            t("Your appointment is booked. We have sent you an email.")
        )
        checkpoint(other, shots, "claimed")
    finally:
        phone.close()
    live_server.deliver_mail()
    assert len(live_server.emails_to(email)) == 4  # code, joined, offered, confirmed
