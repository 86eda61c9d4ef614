"""The waiting-room kiosk on a tablet, in a real browser: a manager starts it and signs out,
a visitor without an appointment takes a ticket and prints it, a booked visitor checks in by
typing the reference as a scanner would (then Enter), and the kiosk returns to the start.

Each step saves a full-page screenshot to artifacts/screenshots/<test>/, the ticket also as
printed (print media emulated), and each kiosk page is checked with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.conftest import LiveServer, Screenshots, StaffAccount
from tests.browser.test_booking_journey import assert_accessible, assert_fits_the_screen
from tests.browser.test_staff_day import BOOKING_DAY, VISIT_DAY, book, in_seoul
from tests.conftest import valid_iins

pytestmark = pytest.mark.slow

TABLETS: dict[str, ViewportSize] = {
    "landscape": {"width": 1024, "height": 768},
    "portrait": {"width": 768, "height": 1024},
}


def _start_the_kiosk(page: Page, t: Callable[..., str], manager: StaffAccount) -> None:
    """The manager signs in on the tablet, starts the kiosk and signs out again."""
    page.goto("/staff/sign-in")
    page.get_by_label(t("Email address")).fill(manager.email)
    page.get_by_label(t("Password")).fill(manager.password)
    page.get_by_role("button", name=t("Sign in")).click()
    expect(page).to_have_url(re.compile(r"/staff/seoul$"))
    page.get_by_role("button", name=t("Use this device as the waiting-room kiosk")).click()
    expect(page).to_have_url(re.compile(r"/kiosk/seoul$"))
    page.goto("/staff/seoul")
    page.get_by_role("button", name=t("Sign out")).click()
    expect(page).to_have_url(re.compile(r"/staff/sign-in"))


@pytest.mark.parametrize("tablet", sorted(TABLETS))
def test_a_visitor_takes_a_ticket_and_a_booked_visitor_checks_in(
    page: Page,
    shots: Screenshots,
    live_server: LiveServer,
    texts: Callable,
    staff_accounts: dict[str, StaffAccount],
    tablet: str,
) -> None:
    t = texts("en")
    page.set_viewport_size(TABLETS[tablet])
    page.clock.install()  # the idle timer's minute, made to pass at once at the end
    live_server.clock.set(in_seoul(BOOKING_DAY, 8, 30))
    visitor = book(live_server, in_seoul(VISIT_DAY, 10), "Dana", "Seitkali", valid_iins())
    live_server.clock.set(in_seoul(VISIT_DAY, 9, 55))

    # Anyone's browser: the kiosk is not started there, and says how to start it.
    page.goto("/kiosk/seoul")
    expect(page.get_by_role("heading", level=1)).to_have_text(t("This kiosk is not started"))
    shots.take("not-started")
    assert_accessible(page)

    _start_the_kiosk(page, t, staff_accounts["manager.seoul"])
    page.goto("/kiosk/seoul")
    start = page.get_by_role("link", name=re.compile(t("I don't have an appointment")))
    expect(start).to_be_visible()
    assert_fits_the_screen(page)
    box = start.bounding_box()
    assert box is not None and box["height"] >= 64  # a target for any finger
    shots.take("start")
    assert_accessible(page)

    # The language, switched on the kiosk itself.
    page.get_by_role("button", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("button", name="한국어")).to_have_attribute("aria-current", "true")
    shots.take("start-korean")
    # The visitor walks away: a minute later the kiosk is in the browser's language again.
    page.clock.fast_forward("01:01")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # Without an appointment: a service, then the ticket.
    start.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Which service do you need?"))
    shots.take("services")
    assert_accessible(page)
    service = page.locator(".kiosk-service").first
    service_name = service.inner_text()
    service.dblclick()  # a double tap takes one ticket (the browser, the script and the redirect)
    expect(page).to_have_url(re.compile(r"/kiosk/seoul/ticket/\d+$"))
    number = page.locator(".kiosk-number")
    expect(number).to_have_text("S-001")
    walk_in_label = number.inner_text()
    expect(page.locator(".kiosk-ticket-facts")).to_contain_text(service_name)
    expect(page.locator(".kiosk-wait")).to_contain_text(t("%(num)d people before you", num=0))
    expect(page.get_by_role("button", name=t("Print"))).to_be_visible()
    assert_fits_the_screen(page)
    shots.take("walk-in-ticket")
    assert_accessible(page)
    # A reload shows the same ticket: nothing new is issued.
    page.reload()
    expect(number).to_have_text(walk_in_label)

    # As printed: an 80 mm receipt with the number, office, service, time and wait only.
    page.emulate_media(media="print")
    expect(page.locator(".kiosk-header")).to_be_hidden()
    expect(page.get_by_role("button", name=t("Done"))).to_be_hidden()
    expect(page.locator(".kiosk-ticket-office")).to_be_visible()
    shots.take("walk-in-ticket-printed")
    page.emulate_media(media="screen")

    page.get_by_role("button", name=t("Done")).click()
    expect(page).to_have_url(re.compile(r"/kiosk/seoul$"))

    # With an appointment: the scanner types the reference and Enter (here in lower case
    # and without the dash, as a visitor might type it).
    page.get_by_role("link", name=re.compile(t("I have an appointment"))).click()
    field = page.get_by_label(t("Booking reference"))
    expect(field).to_be_focused()
    shots.take("appointment")
    assert_accessible(page)
    page.keyboard.type("ZZZ-ZZZZZZ")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text(
        t(
            "We can't find a booking with this reference. Check it and try again, or ask at "
            "the counter."
        )
    )
    expect(field).to_have_value("ZZZ-ZZZZZZ")
    shots.take("unknown-reference")
    assert_accessible(page)
    field.fill("")
    page.keyboard.type(visitor.reference.replace("-", "").lower())
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/kiosk/seoul/ticket/\d+$"))
    expect(number).to_have_text(re.compile(r"^S-\d{3}$"))
    expect(number).to_have_text("S-002")  # the next number: the double tap took only one
    content = page.content()
    for personal in (visitor.given_name, visitor.family_name, visitor.iin, visitor.email):
        assert personal not in content
    shots.take("check-in-ticket")
    assert_accessible(page)
    page.emulate_media(media="print")
    shots.take("check-in-ticket-printed")
    page.emulate_media(media="screen")

    # Left alone for a minute, the ticket goes away for the next visitor.
    page.clock.fast_forward("00:30")
    expect(page).to_have_url(re.compile(r"/kiosk/seoul/ticket/\d+$"))
    page.clock.fast_forward("00:31")
    expect(page).to_have_url(re.compile(r"/kiosk/seoul$"))
    page.go_back()
    expect(page.locator(".kiosk-number")).to_have_count(0)  # the ticket is no longer shown
