"""The citizen's journey in a real browser: book, confirm with the emailed code, change, cancel.

Every step saves a full-page screenshot to artifacts/screenshots/<test>/<nn>-<step>.png.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

import pytest
from axe_playwright_python.base import AxeResults
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import LiveServer, Screenshots
from tests.conftest import valid_iins

pytestmark = pytest.mark.slow

REFERENCE = re.compile(r"SEL-[2-9A-HJKMNP-Z]{6}")
APPLICANT = {
    "given_name": "Aigerim",
    "family_name": "Nurlanova",
    "iin": "850502401238",
    "passport_number": "N12345678",
    "phone": "010-1234-5678",
    "current_passport__expiry_date": "2027-03-01",
}


@pytest.mark.parametrize(
    ("language", "browser_locale"),
    [
        pytest.param("kk", "en-US", id="kk"),
        pytest.param("ru", "en-US", id="ru"),
        # English is the default, so this browser asks for Korean first.
        pytest.param("en", "ko-KR", id="en"),
        pytest.param("ko", "en-US", id="ko"),
    ],
)
def test_a_full_booking_in_each_language(
    citizen: Citizen, texts: Callable, language: str, browser_locale: str
) -> None:
    page, server = citizen.page, citizen.server
    citizen.open_home()
    citizen.choose_language(language)
    t = citizen.t = texts(language)
    expect(page.locator("html")).to_have_attribute("lang", language)
    heading = t("Book a visit to a consular office")
    if language != "en":
        assert heading != "Book a visit to a consular office", "the heading is not translated"
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)

    citizen.start_booking()
    citizen.choose_office_and_services()
    citizen.choose_a_day_and_time(next_month=True, day_index=2)
    citizen.fill_details()
    citizen.review_and_hold()
    reference = citizen.confirm_with_emailed_code()

    expect(page.locator("html")).to_have_attribute("lang", language)
    server.deliver_mail()
    subjects = [str(m["Subject"]) for m in server.emails_to(citizen.email)]
    assert t("Appointment confirmed: %(reference)s", reference=reference) in subjects

    link = page.get_by_role("link", name=t("Add to calendar (.ics)"))
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == f"{reference}.ics"
    calendar = download.path().read_text(encoding="utf-8")
    assert "BEGIN:VCALENDAR" in calendar
    assert re.search(rf"^UID:[^\r\n]*{reference}", calendar, re.MULTILINE), calendar
    response = page.request.get(link.get_attribute("href") or "")
    assert response.headers["content-type"].startswith("text/calendar")


def test_cancelling_from_the_confirmation_page(citizen: Citizen) -> None:
    page, t = citizen.page, citizen.t
    reference = citizen.book()

    page.get_by_role("link", name=t("Cancel the appointment")).click()
    # A confirmation step of its own: the visit, what cancelling means, yes or no.
    citizen.heading(t("Cancel your appointment?"))
    expect(page.locator("main")).to_contain_text(reference)
    page.get_by_label(t("Reason (optional)")).fill("I can come earlier to Busan.")
    citizen.checkpoint("cancel-confirm")
    assert_accessible(page)
    page.get_by_role("link", name=t("No, keep it")).click()
    citizen.heading(t("Your appointment is booked"))
    page.get_by_role("link", name=t("Cancel the appointment")).click()
    page.get_by_label(t("Reason (optional)")).fill("I can come earlier to Busan.")
    page.get_by_role("button", name=t("Yes, cancel the appointment")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(t("This appointment is cancelled"))
    expect(page.get_by_role("status")).to_contain_text(
        t("Your appointment is cancelled. We have sent you an email.")
    )
    citizen.checkpoint("cancelled")
    assert_accessible(page)
    citizen.server.deliver_mail()
    assert any(reference in str(m["Subject"]) for m in citizen.server.emails_to(citizen.email))


def test_rescheduling_to_another_time(citizen: Citizen) -> None:
    page, t, server = citizen.page, citizen.t, citizen.server
    reference = citizen.book()
    server.deliver_mail()
    before = len(server.emails_to(citizen.email))

    page.get_by_role("link", name=t("Choose another time")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Choose a new time"))
    citizen.checkpoint("reschedule")
    citizen.open_day(next_month=True, day_index=2)
    new_day = page.locator("#times-title").inner_text()
    time_button = page.locator("#times button.time-button").nth(3)
    new_time = time_button.inner_text()
    citizen.checkpoint("reschedule-day")
    time_button.click()

    expect(page.get_by_role("status")).to_contain_text(
        t("Your appointment has been moved. We have sent you an email.")
    )
    summary = page.locator("dl.summary").first
    expect(summary).to_contain_text(new_day)
    expect(summary).to_contain_text(new_time)
    assert new_time != citizen.chosen_time
    citizen.checkpoint("rescheduled")
    server.deliver_mail()
    emails = server.emails_to(citizen.email)
    assert len(emails) == before + 1
    moved = emails[-1]
    assert moved["Subject"] == t("New time for your appointment %(reference)s", reference=reference)
    text = moved.get_body(preferencelist=("plain",)).get_content()
    assert new_time in text
    assert new_day in text


def test_an_expired_hold_offers_to_choose_again_with_the_details_kept(citizen: Citizen) -> None:
    page, t = citizen.page, citizen.t
    citizen.open_home()
    citizen.start_booking()
    citizen.choose_office_and_services()
    citizen.choose_a_day_and_time()
    citizen.fill_details()
    citizen.review_and_hold()

    citizen.server.clock.advance(minutes=11)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("The time was not booked"))
    expect(page.get_by_role("alert")).to_contain_text(
        t("The hold has ended before the code was entered, so the time has been released.")
    )
    citizen.checkpoint("hold-expired")
    assert_accessible(page)

    page.get_by_role("link", name=t("Choose a time again")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Choose a date and time"))
    citizen.checkpoint("calendar-again")
    time_link = page.locator("#times a.time-button").first
    citizen.chosen_time = time_link.inner_text()
    time_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Your details"))
    # Every answer comes back as it was typed (the journey's draft).
    for name, value in APPLICANT.items():
        expect(page.locator(f"#{name}")).to_have_value(value)
    expect(page.locator("#email")).to_have_value(citizen.email)
    citizen.checkpoint("details-prefilled")
    page.get_by_role("button", name=t("Continue")).click()
    citizen.review_and_hold()
    citizen.confirm_with_emailed_code()


def test_a_time_taken_by_someone_else_offers_the_nearest_free_times(citizen: Citizen) -> None:
    page, t, server = citizen.page, citizen.t, citizen.server
    citizen.open_home()
    citizen.start_booking()
    citizen.choose_office_and_services()
    citizen.choose_a_day_and_time()
    start = parse_qs(urlparse(page.url).query)["start"][0]
    citizen.fill_details()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Check your booking"))

    others = (iin for iin in valid_iins() if iin != APPLICANT["iin"])
    taken = server.fill_time("seoul", ["passport-renewal"], start, others)
    assert taken >= 1

    page.get_by_role("button", name=t("Hold this time and send the code")).click()
    citizen.heading(t("Someone else has just taken this time"))
    expect(page.get_by_role("alert")).to_be_focused()
    citizen.checkpoint("time-taken")
    assert_accessible(page)
    alternatives = page.locator("form.alternatives button.time-button")
    expect(alternatives.first).to_be_visible()
    citizen.chosen_time = alternatives.first.inner_text().split(", ")[-1]
    alternatives.first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(t("Check your booking"))
    summary = page.locator("main")
    expect(summary).to_contain_text(APPLICANT["given_name"])
    expect(summary).to_contain_text(APPLICANT["family_name"])
    expect(summary).to_contain_text(APPLICANT["iin"])
    expect(summary).to_contain_text(citizen.email)
    citizen.checkpoint("review-new-time")
    citizen.review_and_hold()
    citizen.confirm_with_emailed_code()


def test_the_whole_journey_by_keyboard_only(citizen: Citizen, texts: Callable) -> None:
    page, server = citizen.page, citizen.server
    keys = Keyboard(page)
    citizen.open_home()

    # The first Tab reaches the skip link, which moves the focus to the main content.
    keys.press("Tab")
    expect(page.get_by_role("link", name=citizen.t("Skip to main content"))).to_be_focused()
    keys.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Back up to the language switcher: the arrow keys choose without reloading the page,
    # the button applies the choice.
    keys.tab_to(page.locator("#language-select"))
    keys.press("ArrowUp")
    expect(page.locator("#language-select")).to_have_value("ru")
    keys.press("Tab")
    expect(page.locator(".language-switcher button")).to_be_focused()
    keys.follow("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    t = citizen.t = texts("ru")
    citizen.checkpoint("home-ru")

    keys.tab_to(page.get_by_role("link", name=t("Book an appointment"), exact=True))
    keys.follow("Enter")
    citizen.heading(t("Which office do you want to visit?"))
    keys.tab_to(page.get_by_role("link", name=t("Choose this office")).first)
    citizen.checkpoint("office")
    keys.follow("Enter")

    citizen.heading(t("What is your visit for?"))
    keys.tab_to(page.locator("#service-passport-renewal"))
    keys.press("Space")
    expect(page.locator("#service-passport-renewal")).to_be_checked()
    citizen.checkpoint("services")
    keys.tab_to(page.get_by_role("button", name=t("Continue")))
    keys.follow("Enter")

    citizen.heading(t("Choose a date and time"))
    keys.tab_to(page.locator(".calendar-head a.month-nav").last)
    keys.follow("Enter")
    keys.tab_to(page.locator("table.month td.day-free a").first)
    citizen.checkpoint("calendar")
    keys.follow("Enter")
    # The chosen day's times come next in the tab order.
    first_time = page.locator("#times a.time-button").first
    keys.press("Tab")
    expect(first_time).to_be_focused()
    citizen.chosen_time = first_time.inner_text()
    citizen.checkpoint("day")
    keys.follow("Enter")

    citizen.heading(t("Your details"))
    values = APPLICANT | {"email": citizen.email, "iin": "850502401239"}  # a wrong check digit
    for name, value in values.items():
        keys.tab_to(page.locator(f"#{name}"))
        if name == "current_passport__expiry_date":
            value = "03012027"  # typed as the browser's locale (en-US) shows the date
        page.keyboard.type(value)
    expect(page.locator("#current_passport__expiry_date")).to_have_value("2027-03-01")
    citizen.checkpoint("details")
    keys.follow("Enter")  # submits the form from the last field

    # The error summary takes the focus; its link leads to the field to correct.
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    citizen.checkpoint("details-error")
    keys.press("Tab")
    expect(summary.get_by_role("link")).to_be_focused()
    keys.press("Enter")
    expect(page.locator("#iin")).to_be_focused()
    keys.press("Control+A")
    page.keyboard.type(APPLICANT["iin"])
    keys.tab_to(page.get_by_role("button", name=t("Continue")))
    keys.follow("Enter")

    citizen.heading(t("Check your booking"))
    keys.tab_to(page.get_by_role("button", name=t("Hold this time and send the code")))
    citizen.checkpoint("review")
    keys.follow("Enter")

    citizen.heading(t("Enter the code from your email"))
    keys.tab_to(page.locator("#code"))
    page.keyboard.type(server.latest_code(citizen.email))
    citizen.checkpoint("hold")
    keys.follow("Enter")

    citizen.heading(t("Your appointment is booked"))
    citizen.checkpoint("confirmation")
    keys.tab_to(page.get_by_role("link", name=t("Add to calendar (.ics)")))
    with page.expect_download() as download_info:
        keys.press("Enter")
    assert download_info.value.suggested_filename.endswith(".ics")
    keys.tab_to(page.get_by_role("link", name=t("Cancel the appointment")))
    keys.follow("Enter")
    citizen.heading(t("Cancel your appointment?"))
    citizen.checkpoint("cancel-opened")
    assert keys.presses["Shift+Tab"] > 0


def test_back_keeps_every_answer_and_never_asks_to_resend_a_form(citizen: Citizen) -> None:
    page, t = citizen.page, citizen.t
    citizen.open_home()
    citizen.start_booking()
    citizen.choose_office_and_services()
    citizen.choose_a_day_and_time()
    citizen.fill_details()
    citizen.heading(t("Check your booking"))
    expect(page.locator("main")).to_contain_text(APPLICANT["iin"])

    page.go_back()  # from the review: every field as it was typed
    citizen.heading(t("Your details"))
    for name, value in APPLICANT.items():
        expect(page.locator(f"#{name}")).to_have_value(value)
    citizen.checkpoint("back-from-review")

    # Change time keeps what was typed, also what was not sent yet.
    page.locator("#family_name").fill("Nurlanova-Seitkali")
    page.get_by_role("button", name=t("Change time")).click()
    citizen.heading(t("Choose a date and time"))
    time_link = page.locator("#times a.time-button").nth(1)
    citizen.chosen_time = time_link.inner_text()
    time_link.click()
    citizen.heading(t("Your details"))
    expect(page.locator("#family_name")).to_have_value("Nurlanova-Seitkali")
    expect(page.locator("#iin")).to_have_value(APPLICANT["iin"])
    page.get_by_role("button", name=t("Continue")).click()

    # Each part of the review has its own Change link.
    citizen.heading(t("Check your booking"))
    changes = page.locator("dd.summary-action a")
    expect(changes).to_have_count(3 + 6 + 2)  # visit, applicant, the current passport
    page.locator("dd.summary-action a[href$='#phone']").click()
    citizen.heading(t("Your details"))
    expect(page.locator("#phone")).to_have_value(APPLICANT["phone"])
    page.get_by_role("button", name=t("Continue")).click()
    citizen.review_and_hold()

    page.go_back()  # from the code page: the review again, never "Confirm Form Resubmission"
    citizen.heading(t("Check your booking"))
    expect(page.locator("main")).to_contain_text("Nurlanova-Seitkali")
    citizen.checkpoint("back-from-code")


def test_the_reference_stays_on_one_line_on_a_small_phone(citizen: Citizen) -> None:
    page = citizen.page
    page.set_viewport_size({"width": 320, "height": 640})
    citizen.book()
    reference = page.locator(".panel-confirmed .reference")
    box = reference.bounding_box()
    line_height = reference.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert box is not None and box["height"] < 1.5 * line_height, box
    assert_fits_the_screen(page)
    # Printed, the heading and the reference are black on white, not white on nothing.
    page.emulate_media(media="print")
    colours = page.evaluate(
        """() => [".panel-confirmed h1", ".panel-confirmed .reference"].map(
            selector => getComputedStyle(document.querySelector(selector)).color)"""
    )
    assert colours == ["rgb(0, 0, 0)", "rgb(0, 0, 0)"], colours
    citizen.checkpoint("printed")
    page.emulate_media(media="screen")


def test_korean_text_breaks_between_words(citizen: Citizen) -> None:
    page = citizen.page
    citizen.open_home()
    citizen.choose_language("ko")
    assert page.evaluate("getComputedStyle(document.body).wordBreak") == "keep-all"


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_every_page_is_accessible_and_fits_the_screen(citizen: Citizen, viewport: str) -> None:
    page, t = citizen.page, citizen.t
    citizen.audit = True
    citizen.open_home()
    citizen.start_booking()
    citizen.choose_office_and_services()
    citizen.choose_a_day_and_time(next_month=True)
    citizen.fill_details(send_empty_first=True)
    citizen.review_and_hold()
    reference = citizen.confirm_with_emailed_code(wrong_code_first=True)

    page.get_by_role("contentinfo").get_by_role("link", name=t("Manage my appointment")).click()
    citizen.heading(t("Manage my appointment"))
    citizen.checkpoint("manage-lookup")
    page.get_by_label(t("Booking reference")).fill(reference)
    page.get_by_label(t("IIN of the applicant")).fill(APPLICANT["iin"])
    page.get_by_role("button", name=t("Find my appointment")).click()
    citizen.heading(t("Your appointment is booked"))

    page.get_by_role("link", name=t("Choose another time")).click()
    citizen.heading(t("Choose a new time"))
    citizen.checkpoint("reschedule")


# Steps of the journey


@dataclass
class Citizen:
    """A citizen at the browser, going through the pages step by step."""

    page: Page
    shots: Screenshots
    server: LiveServer
    t: Callable[..., str]
    email: str
    chosen_time: str = ""
    # Run axe-core and check the page width at every step, not only take a screenshot.
    audit: bool = False

    def checkpoint(self, step: str) -> None:
        """Take a screenshot of this step; when auditing, check it with axe and for width."""
        self.shots.take(step)
        if self.audit:
            assert_accessible(self.page)
            assert_fits_the_screen(self.page)

    def heading(self, text: str) -> None:
        expect(self.page.get_by_role("heading", level=1)).to_have_text(text)

    def open_home(self) -> None:
        self.page.goto("/")
        expect(self.page.locator("h1")).to_be_visible()
        self.checkpoint("home")

    def choose_language(self, language: str) -> None:
        self.page.locator("#language-select").select_option(language)
        expect(self.page.locator("html")).to_have_attribute("lang", language)
        self.checkpoint(f"home-{language}")

    def start_booking(self) -> None:
        self.page.get_by_role("link", name=self.t("Book an appointment"), exact=True).click()

    def choose_office_and_services(self) -> None:
        page, t = self.page, self.t
        self.heading(t("Which office do you want to visit?"))
        self.checkpoint("office")
        page.get_by_role("link", name=t("Choose this office")).first.click()
        self.heading(t("What is your visit for?"))
        self.checkpoint("services")
        page.locator("#service-passport-renewal").check()
        page.get_by_role("button", name=t("Continue")).click()

    def open_day(self, *, next_month: bool = False, day_index: int = 0) -> None:
        """Show the times of a day with free times (of the next month, if asked)."""
        page = self.page
        if next_month:
            month = page.locator("#calendar-title").inner_text()
            page.locator(".calendar-head a.month-nav").last.click()
            expect(page.locator("#calendar-title")).not_to_have_text(month)
            self.checkpoint("next-month")
        day = page.locator("table.month td.day-free a").nth(day_index)
        day_label = day.get_attribute("aria-label") or ""
        day.click()
        expect(page.locator("table.month a[aria-current='date']")).to_have_attribute(
            "aria-label", day_label
        )
        self.checkpoint("day")

    def choose_a_day_and_time(self, *, next_month: bool = False, day_index: int = 0) -> None:
        self.heading(self.t("Choose a date and time"))
        self.checkpoint("calendar")
        self.open_day(next_month=next_month, day_index=day_index)
        time_link = self.page.locator("#times a.time-button").first
        self.chosen_time = time_link.inner_text()
        time_link.click()

    def fill_details(self, *, send_empty_first: bool = False) -> None:
        page, t = self.page, self.t
        self.heading(t("Your details"))
        if send_empty_first:
            page.get_by_role("button", name=t("Continue")).click()
            expect(page.get_by_role("alert")).to_contain_text(t("There is a problem"))
            expect(page.get_by_role("alert")).to_be_focused()
            self.checkpoint("details-errors")
        for name, value in APPLICANT.items():
            page.locator(f"#{name}").fill(value)
        page.locator("#email").fill(self.email)
        self.checkpoint("details")
        page.get_by_role("button", name=t("Continue")).click()

    def review_and_hold(self) -> None:
        page, t = self.page, self.t
        self.heading(t("Check your booking"))
        expect(page.locator("main")).to_contain_text(self.chosen_time)
        self.checkpoint("review")
        page.get_by_role("button", name=t("Hold this time and send the code")).click()
        self.heading(t("Enter the code from your email"))
        self.checkpoint("hold")

    def confirm_with_emailed_code(self, *, wrong_code_first: bool = False) -> str:
        page, t = self.page, self.t
        code = self.server.latest_code(self.email)
        if wrong_code_first:
            page.locator("#code").fill(f"{(int(code) + 1) % 1_000_000:06d}")
            page.get_by_role("button", name=t("Confirm the booking")).click()
            expect(page.get_by_role("alert")).to_be_focused()
            expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
            self.checkpoint("hold-wrong-code")
        page.locator("#code").fill(code)
        page.get_by_role("button", name=t("Confirm the booking")).click()
        self.heading(t("Your appointment is booked"))
        reference = page.locator(".panel-confirmed .reference").inner_text()
        assert REFERENCE.fullmatch(reference), reference
        assert page.url.endswith(f"/appointment/{reference}")
        self.checkpoint("confirmation")
        return reference

    def book(self) -> str:
        """Go through the whole journey; return the booking reference."""
        self.open_home()
        self.start_booking()
        self.choose_office_and_services()
        # Next month, well before the time to change or cancel runs out.
        self.choose_a_day_and_time(next_month=True)
        self.fill_details()
        self.review_and_hold()
        return self.confirm_with_emailed_code()


@pytest.fixture
def citizen(
    request: pytest.FixtureRequest,
    page: Page,
    shots: Screenshots,
    live_server: LiveServer,
    texts: Callable,
) -> Citizen:
    name = re.sub(r"[^a-z0-9]+", ".", request.node.name.lower()).strip(".")
    return Citizen(page, shots, live_server, texts("en"), f"{name}@example.com")


@dataclass
class Keyboard:
    """Keys pressed on the page, counted: the keyboard test uses nothing else."""

    page: Page
    presses: Counter[str] = field(default_factory=Counter)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.presses[key] += 1

    def follow(self, key: str = "Enter") -> None:
        """Press a key that loads another page, and wait until it has loaded."""
        with self.page.expect_navigation():
            self.press(key)

    def tab_to(self, target: Locator, limit: int = 60) -> None:
        """Press Tab until the target has the focus; Shift+Tab if it comes before the focus."""
        backwards = target.evaluate(
            """target => {
                const focus = document.activeElement;
                return Boolean(focus && focus !== document.body
                    && focus.compareDocumentPosition(target) & Node.DOCUMENT_POSITION_PRECEDING);
            }"""
        )
        key = "Shift+Tab" if backwards else "Tab"
        for _ in range(limit):
            if target.evaluate("element => element === document.activeElement"):
                return
            self.press(key)
        raise AssertionError(f"{limit} presses of {key} did not reach {target}")


def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical accessibility violation on the page."""
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in {"serious", "critical"}]
    assert not serious, (
        f"axe-core on {page.url}:\n{AxeResults({'violations': serious}).generate_report()}"
    )


def assert_fits_the_screen(page: Page) -> None:
    """Nothing makes the page scroll sideways (on a phone the page would grow wider instead)."""
    assert page.viewport_size is not None
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"
