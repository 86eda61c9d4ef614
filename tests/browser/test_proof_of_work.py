"""The proof of work in a real browser: the ALTCHA widget solves by itself on the review page
and the hold goes through, in each language, at the production difficulty; without
JavaScript the page says why the time can't be held; a refused proof is solved again.

Screenshots go to artifacts/screenshots/<test>/ like the journey's. The solving times are
printed (`-s`), never asserted: speed is measured in bench/ and README.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import test_booking_journey
from tests.browser.conftest import LiveServer, Screenshots
from tests.browser.test_booking_journey import (
    Citizen,
    Keyboard,
    assert_accessible,
    assert_fits_the_screen,
)

pytestmark = pytest.mark.slow

citizen = test_booking_journey.citizen  # the fixture: a citizen at the browser
CHECKBOX = "altcha-widget input[type=checkbox]"
# The production defaults (consular/config.py): what a person's browser really does.
PRODUCTION = {"POW_ENABLED": True, "POW_COST": 1000, "POW_BASE_MAX_NUMBER": 5000}


@pytest.fixture(autouse=True)
def proof_of_work_on(live_server: LiveServer) -> None:
    live_server.app.config.update(PRODUCTION)


def wait_until_solved(citizen: Citizen) -> dict:
    """Wait for the widget to solve its challenge; the solution it put in the form."""
    page, t = citizen.page, citizen.t
    started = time.perf_counter()
    expect(page.locator(CHECKBOX)).to_be_checked(timeout=90_000)
    waited = time.perf_counter() - started
    expect(page.locator("[data-proof-of-work-status]")).to_have_text(
        t("Checked: you can hold the time.")
    )
    payload = page.locator("input[name=proof_of_work]").input_value()
    solution = json.loads(base64.b64decode(payload))["solution"]
    data = json.loads(base64.b64decode(payload))["challenge"]["parameters"]["data"]
    print(
        f"\nsolved counter {solution['counter']} of max {data['max_number']} in "
        f"{solution['time']:.0f} ms of work, {waited * 1000:.0f} ms after the page was shown"
    )
    return solution


def go_to_review(citizen: Citizen, language: str | None = None) -> None:
    citizen.open_home()
    if language:
        citizen.choose_language(language)
    citizen.start_booking()
    citizen.choose_office_and_services()
    citizen.choose_a_day_and_time(next_month=True, day_index=1)
    citizen.fill_details()
    citizen.heading(citizen.t("Check your booking"))


@pytest.mark.parametrize("language", ["kk", "ru", "en", "ko"])
def test_the_widget_solves_by_itself_and_the_hold_goes_through(
    citizen: Citizen, texts: Callable, language: str
) -> None:
    page = citizen.page
    citizen.t = t = texts(language)
    go_to_review(citizen, language)
    widget = page.locator("altcha-widget")
    expect(widget).to_have_attribute("language", language)
    solution = wait_until_solved(citizen)  # by itself: nobody ticked the box
    expect(page.locator("altcha-widget label")).to_have_text(t("Checked: you can hold the time."))
    assert solution["counter"] >= 2500  # the production difficulty, not a test's
    fingerprint = page.locator("input[name=device_fingerprint]")
    expect(fingerprint).to_have_value(re.compile("^[0-9a-f]{32}$"))
    citizen.shots.take("review-checked")
    assert_accessible(page)
    assert_fits_the_screen(page)

    keys = Keyboard(page)
    keys.tab_to(page.locator(CHECKBOX))  # the widget's checkbox is reached by the keyboard
    keys.tab_to(page.get_by_role("button", name=t("Hold this time and send the code")))
    keys.follow("Enter")
    citizen.heading(t("Enter the code from your email"))
    citizen.shots.take("hold")
    citizen.confirm_with_emailed_code()


@pytest.mark.parametrize("viewport", ["phone"])
def test_the_widget_fits_a_phone_and_passes_axe_while_it_works(
    citizen: Citizen, viewport: str, live_server: LiveServer
) -> None:
    live_server.app.config["POW_BASE_MAX_NUMBER"] = 40_000  # long enough to see it working
    page = citizen.page
    go_to_review(citizen)
    expect(page.locator("[data-proof-of-work-status]")).to_have_text(
        citizen.t("Checking that a person is booking…")
    )
    citizen.shots.take("review-checking")
    assert_accessible(page)
    assert_fits_the_screen(page)
    wait_until_solved(citizen)
    citizen.shots.take("review-checked")


def test_a_refused_proof_is_shown_by_the_widget_and_solved_again(
    citizen: Citizen, live_server: LiveServer
) -> None:
    page, t = citizen.page, citizen.t
    go_to_review(citizen)
    wait_until_solved(citizen)
    live_server.clock.advance(minutes=6)  # past the challenge's five minutes
    page.get_by_role("button", name=t("Hold this time and send the code")).click()

    citizen.heading(t("Check your booking"))
    message = t(
        "The check that a person is booking has expired. Wait until it has been done "
        "again, then press the button again."
    )
    expect(page.get_by_role("alert")).to_contain_text(message)
    expect(page.get_by_role("alert")).to_be_focused()
    expect(page.locator("#proof-of-work-error")).to_contain_text(message)
    expect(page.locator(CHECKBOX)).to_have_attribute(
        "aria-describedby", "proof-of-work-hint proof-of-work-error"
    )
    wait_until_solved(citizen)  # a new challenge, by itself
    citizen.shots.take("refused-and-solved-again")
    assert_accessible(page)
    page.get_by_role("button", name=t("Hold this time and send the code")).click()
    citizen.heading(t("Enter the code from your email"))
    citizen.confirm_with_emailed_code()


@pytest.fixture
def page_without_javascript(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_without_javascript_the_page_says_why_the_time_cannot_be_held(
    page_without_javascript: Page, shots: Screenshots, live_server: LiveServer, texts: Callable
) -> None:
    page, t = page_without_javascript, texts("en")
    citizen = Citizen(page, Screenshots(page, shots.folder), live_server, t, "no.js@example.com")
    go_to_review(citizen)
    notice = t(
        "Your browser is not running JavaScript. The time can't be held without it, because "
        "the check that a person is booking runs in the browser. Turn JavaScript on and "
        "reload this page, or call the office."
    )
    # Playwright's text matching leaves out what <noscript> holds; the screenshot shows it.
    assert notice in (page.locator("#proof-of-work noscript").text_content() or "")
    expect(page.locator("altcha-widget")).to_have_count(0)
    citizen.shots.take("review-without-javascript")
    page.get_by_role("button", name=t("Hold this time and send the code")).click()
    required = t(
        "Before the time can be held, your browser must finish a short check that a person is "
        "booking. It needs JavaScript. Wait until the check is done, then press the button again."
    )
    expect(page.locator("#proof-of-work-error")).to_contain_text(required)
    expect(page.locator("main")).to_contain_text(citizen.chosen_time)
    citizen.shots.take("refused-without-javascript")
