"""A day at the Seoul office in a real browser: the clerk's queue, the waiting-room display
and the manager's schedule.

The visits are booked the day before through the JSON API (services need 24 hours' notice),
then the clock moves on to the morning of the visit. Every step saves a full-page screenshot
to artifacts/screenshots/<test>/<nn>-<step>.png; every staff page is checked with axe-core (once
per page and state, as the checks take a few seconds on the long pages).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from playwright.sync_api import BrowserContext, Locator, Page, ViewportSize, expect

from tests.browser.conftest import VIEWPORTS, LiveServer, Screenshots, StaffAccount
from tests.browser.test_booking_journey import Keyboard, assert_accessible
from tests.conftest import valid_iins

pytestmark = pytest.mark.slow

SEOUL = ZoneInfo("Asia/Seoul")
# The day before the visits, and the day of the visits: an ordinary Monday and Tuesday.
BOOKING_DAY = date(2026, 11, 30)
VISIT_DAY = date(2026, 12, 1)
# The Thursday the manager closes the office.
CLOSED_DAY = date(2026, 12, 3)
# static/js/display.js asks for the feed this often; the display's clock is moved on by it.
POLL_MS = 3_000
PASSPORT = "Passport renewal / replacement"
MARRIAGE = "State registration of marriage"
MASK = "•" * 8
CLERK_SCREEN: ViewportSize = {"width": 1366, "height": 768}


def in_seoul(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time at the office."""
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL)


@dataclass(frozen=True)
class Visitor:
    """A citizen with a confirmed booking."""

    given_name: str
    family_name: str
    iin: str
    email: str
    reference: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def book(
    server: LiveServer, start: datetime, given_name: str, family_name: str, iins: Iterator[str]
) -> Visitor:
    """Hold a passport renewal through the JSON API and confirm it with the emailed code."""
    email = f"{given_name}.{family_name}@example.com".lower()
    iin = next(iins)
    status, answer = server.post_json(
        "/api/v1/appointments",
        {
            "office": "seoul",
            "services": ["passport-renewal"],
            "start": start.isoformat(),
            "language": "en",
            "applicant": {
                "given_name": given_name,
                "family_name": family_name,
                "iin": iin,
                "passport_number": "N12345678",
                "email": email,
                "phone": "010-1234-5678",
            },
            "details": {"current_passport": {"expiry_date": "2027-03-01"}},
        },
    )
    assert status == 201, answer
    reference = answer["reference"]
    status, answer = server.post_json(
        f"/api/v1/appointments/{reference}/confirm", {"code": server.latest_code(email)}
    )
    assert status == 200, answer
    assert answer["status"] == "confirmed", answer
    return Visitor(given_name, family_name, iin, email, reference)


def book_the_visit_day(server: LiveServer) -> tuple[Visitor, Visitor, Visitor]:
    """Book three visits on the visit day, then move the clock to 09:40 that morning."""
    server.clock.set(in_seoul(BOOKING_DAY, 8, 30))
    iins = valid_iins()
    alma = book(server, in_seoul(VISIT_DAY, 9), "Alma", "Sadykova", iins)  # comes late
    bota = book(server, in_seoul(VISIT_DAY, 10, 30), "Bota", "Zhakupova", iins)  # comes early
    chingiz = book(server, in_seoul(VISIT_DAY, 11), "Chingiz", "Abenov", iins)  # never comes
    server.clock.set(in_seoul(VISIT_DAY, 9, 40))
    return alma, bota, chingiz


# The clerk's day


def test_a_clerks_day_with_the_waiting_room_display(
    staff: Staff, staff_accounts: dict[str, StaffAccount], context: BrowserContext
) -> None:
    page, t, server = staff.page, staff.t, staff.server
    alma, bota, chingiz = book_the_visit_day(server)
    page.set_viewport_size(CLERK_SCREEN)  # a common office laptop's screen
    staff.sign_in(staff_accounts["clerk.seoul"])
    expect(page).to_have_url(re.compile(r"/staff/seoul$"))
    expect(page.get_by_role("button", name=t("Call next"))).to_have_count(0)
    staff.checkpoint("day-without-desk")

    staff.use_desk("1")
    expect(page.get_by_role("button", name=t("Call next"))).to_be_visible()
    # The display opens in a new tab, and its link says so.
    nav = page.get_by_role("navigation", name=t("Staff"))
    expect(
        nav.get_by_role("link", name=f"{t('Waiting-room display')} {t('(opens in a new tab)')}")
    ).to_have_attribute("target", "_blank")

    # Two visitors arrive. One gives the reference, which is typed in, and is early; the other
    # is found in the day's list and checked in from her row, and is late.
    staff.check_in(bota.reference)
    staff.says(
        t(
            "Checked in: ticket %(ticket)s for %(name)s. The visitor is early.",
            ticket="S-001",
            name=bota.name,
        )
    )
    expect(staff.appointment(bota.reference).get_by_role("button")).to_have_count(0)
    row_check_in = staff.appointment(alma.reference).get_by_role(
        "button", name=f"{t('Check in')} {alma.reference}"
    )
    expect(row_check_in).to_have_accessible_description(
        t("Compare the passport with the booking before you check the visitor in.")
    )
    row_check_in.click()
    staff.says(
        t(
            "Checked in: ticket %(ticket)s for %(name)s. The visitor is late.",
            ticket="S-002",
            name=alma.name,
        )
    )
    # Chingiz's time has not come: no no-show offered yet.
    expect(
        staff.appointment(chingiz.reference).get_by_role("link", name=re.compile(t("No-show")))
    ).to_have_count(0)
    expect(staff.appointment(alma.reference).get_by_role("button")).to_have_count(0)
    # At a desk, the next step is to call: the focus is on Call next.
    expect(page.get_by_role("button", name=t("Call next"))).to_be_focused()
    expect(staff.ticket("S-001").get_by_role("cell").first).to_have_text(f"S-001 {t('early')}")
    expect(staff.ticket("S-002").get_by_role("cell").first).to_have_text(f"S-002 {t('late')}")
    staff.ticket_has("S-001", t("waiting"), "", bota.name)
    staff.ticket_has("S-002", t("waiting"), "", alma.name)
    # The service and how long each has waited.
    expect(staff.ticket("S-001").get_by_role("cell").nth(2)).to_have_text(PASSPORT)
    expect(staff.ticket("S-001").get_by_role("cell").nth(4)).to_have_text(t("%(num)d min", num=0))
    expect(page.locator("#waiting-count")).to_have_text(t("%(num)d waiting for this desk", num=2))
    staff.checkpoint("checked-in", audit=False)

    # The waiting-room screen, in a second window.
    display = staff.open_display(context)
    calls = display.locator("#calls tr")
    expect(calls).to_have_count(0)
    expect(display.locator("#waiting")).to_have_text(t("%(num)d people waiting", num=2))
    # Desk 1 is at work and Alma (late for 09:00) is ahead of someone coming now; Bota,
    # checked in at 09:40 for 10:30, is not.
    expect(display.locator("#wait")).to_have_text(
        re.compile(r"^Estimated wait: about \d+\sminutes?$")
    )
    staff.checkpoint_of(display, "display-empty", audit=False)
    display.evaluate("window.stillTheSamePage = true")

    # The earlier booking goes first, whoever came first.
    server.clock.advance(minutes=3)
    staff.press(t("Call next"))
    staff.says(t("Called %(ticket)s to desk %(desk)s.", ticket="S-002", desk="1"))
    staff.current_is("S-002", alma.name)
    expect(staff.current).to_contain_text(t("Called %(num)d time", num=1))
    # Whom the clerk called, and the passport number to compare, are in view at once.
    expect(staff.current.locator(".ticket-label")).to_be_in_viewport()
    expect(staff.current.locator(".passport")).to_have_text("N12345678")
    expect(staff.current.locator(".passport")).to_be_in_viewport()
    expect(staff.current).to_contain_text(PASSPORT)
    expect(staff.ticket("S-001").get_by_role("cell").nth(4)).to_have_text(t("%(num)d min", num=3))
    staff.checkpoint("called")
    # One visitor at a time: calling again asks to finish with her first, and nothing moves.
    staff.press(t("Call next"))
    expect(page.get_by_role("alert")).to_have_text(
        t(
            "Ticket %(ticket)s is still at desk %(desk)s. Finish with them first: served, "
            "park or transfer.",
            ticket="S-002",
            desk="1",
        )
    )
    staff.current_is("S-002", alma.name)
    staff.ticket_has("S-001", t("waiting"), "", bota.name)
    staff.checkpoint("call-while-busy", audit=False)

    # One polling interval later the screen shows the call without a reload, chimes, and
    # shows no names.
    staff.display_polls()
    expect(calls).to_have_count(1)
    expect(calls.first.locator("td")).to_have_text(["S-002", "1"])
    expect(display.locator("#waiting")).to_have_text(t("%(num)d person waiting", num=1))
    expect(display.locator("html")).to_have_attribute("data-chimes", "1")
    assert display.evaluate("window.stillTheSamePage === true"), "the display reloaded"
    for visitor in (alma, bota, chingiz):
        for text in (visitor.given_name, visitor.family_name, visitor.reference):
            expect(display.locator("body")).not_to_contain_text(text)
    staff.checkpoint_of(display, "display-called")
    # While nothing changes, the rows stay as they are (the table is a live region).
    calls.first.evaluate("row => { row.dataset.marked = 'yes'; }")
    staff.display_polls(times=2)  # the second poll starts once the first one is shown
    expect(calls.first).to_have_attribute("data-marked", "yes")

    # Nobody answers: two more calls, and the third leaves the ticket missed.
    staff.press(t("Call again"))
    expect(staff.current).to_contain_text(t("Called %(num)d times", num=2))
    staff.display_polls()
    expect(display.locator("html")).to_have_attribute("data-chimes", "2")
    staff.press(t("Call again"))
    expect(staff.current).to_contain_text(t("Called %(num)d times", num=3))
    expect(page.get_by_role("button", name=t("Call again"))).to_have_count(0)
    staff.press(t("No answer: mark missed"))
    expect(staff.current).to_have_count(0)
    staff.ticket_has("S-002", t("missed"), "1", alma.name)
    expect(staff.appointment(alma.reference)).to_contain_text(re.compile("no.show", re.I))
    staff.display_polls()
    expect(calls).to_have_count(0)
    staff.checkpoint("missed")

    # She turns up after all: back to the queue, at her booked place, and served.
    server.clock.advance(minutes=5)
    staff.back_to_the_queue("S-002")
    staff.ticket_has("S-002", t("waiting"), "", alma.name)
    staff.press(t("Call next"))
    staff.current_is("S-002", alma.name)
    staff.press(t("Served"))
    staff.says(t("Ticket %(ticket)s served.", ticket="S-002"))
    staff.ticket_has("S-002", t("served"), "1", alma.name)

    # The next visitor fetches a document: parked, then back in the queue.
    server.clock.advance(minutes=5)
    staff.press(t("Call next"))
    staff.current_is("S-001", bota.name)
    staff.display_polls()
    expect(calls.first.locator("td")).to_have_text(["S-001", "1"])
    staff.press(t("Park"))
    staff.says(t("Ticket %(ticket)s parked.", ticket="S-001"))
    staff.ticket_has("S-001", t("parked"), "1", bota.name)
    staff.checkpoint("parked", audit=False)
    staff.back_to_the_queue("S-001")
    staff.says(t("Ticket %(ticket)s is back in the queue.", ticket="S-001"))
    staff.ticket_has("S-001", t("waiting"), "", bota.name)

    # Her case is for another service: transferred, she keeps her place in the queue.
    server.clock.advance(minutes=5)
    staff.press(t("Call next"))
    staff.current_is("S-001", bota.name)
    expect(staff.transfer_service.locator("option:checked")).to_have_text(PASSPORT)
    staff.transfer_service.select_option(label=MARRIAGE)
    staff.press(t("Transfer"))
    staff.says(
        t(
            "Ticket %(ticket)s transferred to the queue for %(service)s.",
            ticket="S-001",
            service=MARRIAGE,
        )
    )
    staff.ticket_has("S-001", t("waiting"), "", bota.name)
    expect(staff.ticket("S-001").get_by_role("cell").nth(2)).to_have_text(MARRIAGE)

    # Called again, she is sent to desk 2; the transfer keeps her new service.
    server.clock.advance(minutes=5)
    staff.press(t("Call next"))
    staff.current_is("S-001", bota.name)
    expect(staff.transfer_service.locator("option:checked")).to_have_text(MARRIAGE)
    staff.transfer_desk.select_option(label="2")
    staff.checkpoint("transfer-to-desk", audit=False)
    staff.press(t("Transfer"))
    staff.ticket_has("S-001", t("waiting"), t("to desk %(desk)s", desk="2"), bota.name)
    # Only desk 2 may call her now: desk 1 counts nobody waiting for it.
    expect(page.locator("#waiting-count")).to_have_text(
        t("%(num)d waiting for this desk", num=0) + " · " + t("%(num)d waiting in all", num=1)
    )
    staff.press(t("Call next"))
    staff.says(t("Nobody is waiting."))
    staff.display_polls()
    expect(calls).to_have_count(0)
    chimes = int(display.locator("html").get_attribute("data-chimes") or 0)
    staff.use_desk("2")
    server.clock.advance(minutes=1)
    staff.press(t("Call next"))
    staff.says(t("Called %(ticket)s to desk %(desk)s.", ticket="S-001", desk="2"))
    expect(staff.transfer_service.locator("option:checked")).to_have_text(MARRIAGE)
    # The screen shows her new desk, and chimes again: a new call, not the one it has seen.
    staff.display_polls()
    expect(calls.first.locator("td")).to_have_text(["S-001", "2"])
    expect(display.locator("html")).to_have_attribute("data-chimes", str(chimes + 1))
    expect(calls.first).to_have_class(re.compile(r"\bnew-call\b"))
    staff.press(t("Served"))
    staff.ticket_has("S-001", t("served"), "2", bota.name)

    # Two visitors without a booking; the urgent case goes first.
    staff.walk_in()
    staff.says(t("Walk-in ticket issued: %(ticket)s.", ticket="S-003"))
    staff.walk_in(urgent=True)
    staff.says(t("Walk-in ticket issued: %(ticket)s.", ticket="S-004"))
    expect(staff.ticket("S-004").get_by_role("cell").first).to_have_text(f"S-004 {t('Urgent')}")
    # The clerk may call a particular ticket, out of the queue's order.
    staff.ticket("S-003").get_by_role("button", name=f"{t('Call')} S-003").click()
    staff.says(t("Called %(ticket)s to desk %(desk)s.", ticket="S-003", desk="2"))
    staff.current_is("S-003", t("Walk-in"))
    # While she is at the desk, no other ticket can be called to it.
    expect(staff.ticket("S-004").get_by_role("button", name=f"{t('Call')} S-004")).to_have_count(0)
    staff.press(t("Served"))
    staff.press(t("Call next"))
    staff.current_is("S-004", t("Walk-in"))
    expect(staff.current).to_contain_text(t("Urgent"))
    staff.checkpoint("urgent-walk-in", audit=False)
    staff.press(t("Served"))
    # Nobody is called now; with visitors served, the screen can estimate the wait.
    staff.display_polls()
    expect(calls).to_have_count(0)
    expect(display.locator("#waiting")).to_have_text(t("%(num)d people waiting", num=0))
    expect(display.locator("#wait")).to_have_text(t("Estimated wait: none"))
    staff.walk_in()
    staff.says(t("Walk-in ticket issued: %(ticket)s.", ticket="S-005"))
    staff.display_polls()
    expect(display.locator("#waiting")).to_have_text(t("%(num)d person waiting", num=1))
    expect(display.locator("#wait")).to_have_text(
        re.compile(r"^Estimated wait: about \d+\u00a0minutes?$")
    )
    staff.checkpoint_of(display, "display-end", audit=False)

    # The last booked visitor never comes.
    server.clock.set(in_seoul(VISIT_DAY, 11, 30))
    staff.appointment(chingiz.reference).get_by_role("link", name=chingiz.reference).click()
    staff.heading(chingiz.reference)
    expect(page.locator("dl.summary").first).to_contain_text(chingiz.iin)
    # The service's extra details, with the booking form's labels and the date in words.
    expect(page.get_by_role("heading", level=2)).to_have_text(t("Current passport"))
    expiry = page.locator("dl.summary").nth(1).locator("div")
    expect(expiry.locator("dt")).to_have_text(t("Expiry date of the current passport"))
    expect(expiry.locator("dd")).to_have_text(format_date(date(2027, 3, 1), "long", locale="en"))
    staff.checkpoint("appointment")
    # A no-show asks to be confirmed, and can be undone the same day.
    page.get_by_role("link", name=t("Mark as no-show")).click()
    staff.heading(t("Mark as no-show"))
    staff.checkpoint("no-show-confirm")
    staff.press(t("Yes, the visitor did not come"))
    marked = t(
        "%(reference)s (%(name)s) marked as a no-show. You can undo it today.",
        reference=chingiz.reference,
        name=chingiz.name,
    )
    staff.says(marked)
    row = staff.appointment(chingiz.reference)
    expect(row).to_contain_text(re.compile("no.show", re.I))
    row.get_by_role("button", name=f"{t('Undo the no-show')} {chingiz.reference}").click()
    staff.says(
        t(
            "The no-show of %(reference)s is undone: the visit is confirmed again.",
            reference=chingiz.reference,
        )
    )
    expect(staff.appointment(chingiz.reference)).to_contain_text(t("confirmed"))
    staff.appointment(chingiz.reference).get_by_role(
        "link", name=f"{t('No-show')} {chingiz.reference}"
    ).click()
    staff.press(t("Yes, the visitor did not come"))
    staff.says(marked)
    expect(staff.appointment(chingiz.reference)).to_contain_text(re.compile("no.show", re.I))

    # The day's appointments can be searched by name or IIN (which the list shows masked).
    listed = page.get_by_role("region", name=t("Appointments"), exact=True).locator("tbody tr")
    expect(listed).to_have_count(3)
    search = page.get_by_role("searchbox", name=t("Search by reference, name, IIN or phone"))
    for term, found in (("abenov", chingiz), (bota.iin, bota)):
        search.fill(term)
        staff.press(t("Search"))
        expect(listed).to_have_count(1)
        expect(listed).to_contain_text(found.reference)
    staff.checkpoint("search", audit=False)
    page.get_by_role("link", name=t("Today's queue")).click()
    expect(listed).to_have_count(3)

    # The day's list, to print and as CSV: the IINs are masked.
    page.get_by_role("link", name=t("Printable list")).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    for visitor in (alma, bota, chingiz):
        expect(page.locator("main")).to_contain_text(visitor.name)
        expect(page.locator("main")).to_contain_text(MASK + visitor.iin[-4:])
        expect(page.locator("main")).not_to_contain_text(visitor.iin)
    staff.checkpoint("print")
    page.go_back()
    with page.expect_download() as download_info:
        page.get_by_role("link", name=t("CSV export")).click()
    download = download_info.value
    assert download.suggested_filename == f"seoul-{VISIT_DAY.isoformat()}.csv"
    text = download.path().read_text(encoding="utf-8-sig")
    rows = {row["reference"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {alma.reference, bota.reference, chingiz.reference}
    for visitor in (alma, bota, chingiz):
        assert rows[visitor.reference]["iin"] == MASK + visitor.iin[-4:]
        assert visitor.iin not in text
    assert rows[alma.reference]["ticket"] == "S-002"
    assert rows[bota.reference]["ticket"] == "S-001"


def test_the_day_page_refreshes_its_lists_without_losing_what_is_typed(
    staff: Staff, staff_accounts: dict[str, StaffAccount], context: BrowserContext
) -> None:
    """static/js/staff-day.js asks for the page again every 20 seconds and puts in the new
    lists; a field being typed in, and the focus in it, stay as they are."""
    page, t, server = staff.page, staff.t, staff.server
    _alma, bota, _chingiz = book_the_visit_day(server)
    page.set_viewport_size(CLERK_SCREEN)
    context.clock.install()  # the page's timers are the test's, for every tab
    staff.sign_in(staff_accounts["clerk.seoul"])
    staff.use_desk("1")
    expect(page.locator("#waiting-count")).to_have_text(t("%(num)d waiting for this desk", num=0))
    typed = page.get_by_role("textbox", name=t("Booking reference"))
    typed.fill("SEL-HALF")

    # Another tab checks a visitor in.
    other = context.new_page()
    other.goto("/staff/seoul")
    other.get_by_role("textbox", name=t("Booking reference")).fill(bota.reference)
    other.get_by_role("button", name=t("Check in"), exact=True).click()
    expect(other.get_by_role("region", name=t("Tickets"), exact=True)).to_contain_text("S-001")
    other.close()
    expect(staff.ticket("S-001")).to_have_count(0)

    with page.expect_response(lambda response: "x-queue-refresh" in response.request.headers):
        context.clock.run_for(20_000)
    expect(staff.ticket("S-001")).to_have_count(1)
    staff.ticket_has("S-001", t("waiting"), "", bota.name)
    expect(page.locator("#waiting-count")).to_have_text(t("%(num)d waiting for this desk", num=1))
    expect(staff.appointment(bota.reference)).to_contain_text("S-001")
    expect(typed).to_have_value("SEL-HALF")
    expect(typed).to_be_focused()
    staff.checkpoint("refreshed-by-itself", audit=False)


def test_the_core_clerk_flow_by_keyboard_only(
    staff: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    page, t = staff.page, staff.t
    alma, _bota, _chingiz = book_the_visit_day(staff.server)
    keys = Keyboard(page)
    clerk = staff_accounts["clerk.seoul"]

    page.goto("/staff/sign-in")
    keys.tab_to(page.get_by_label(t("Email address")))
    page.keyboard.type(clerk.email)
    keys.press("Tab")
    expect(page.get_by_label(t("Password"))).to_be_focused()
    page.keyboard.type(clerk.password)
    keys.follow("Enter")
    expect(page).to_have_url(re.compile(r"/staff/seoul$"))

    keys.tab_to(staff.desk)
    keys.press("ArrowDown")  # desk 2
    keys.tab_to(page.get_by_role("button", name=t("Use this desk")))
    keys.follow("Enter")
    expect(staff.desk.locator("option:checked")).to_have_text("2")

    keys.tab_to(page.get_by_role("textbox", name=t("Booking reference")))
    page.keyboard.type(alma.reference)
    keys.follow("Enter")
    staff.says(t("Checked in: ticket %(ticket)s for %(name)s.", ticket="S-001", name=alma.name))

    # After each action the focus is on the control to use next: no Tab needed.
    tabs = keys.presses["Tab"] + keys.presses["Shift+Tab"]
    expect(page.get_by_role("button", name=t("Call next"))).to_be_focused()
    staff.checkpoint("call-next-focused")
    keys.follow("Enter")
    staff.current_is("S-001", alma.name)

    expect(page.get_by_role("button", name=t("Served"))).to_be_focused()
    staff.checkpoint("served-focused")
    keys.follow("Enter")
    staff.ticket_has("S-001", t("served"), "2", alma.name)
    expect(page.get_by_role("button", name=t("Call next"))).to_be_focused()
    staff.checkpoint("served")
    assert keys.presses["Tab"] + keys.presses["Shift+Tab"] == tabs
    assert set(keys.presses) <= {"Tab", "Shift+Tab", "Enter", "ArrowDown"}


# The manager's schedule


def test_the_manager_closes_a_day_and_online_booking(
    staff: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    page, t, server = staff.page, staff.t, staff.server
    server.clock.set(in_seoul(BOOKING_DAY, 8, 30))
    iins = valid_iins()
    dana = book(server, in_seoul(CLOSED_DAY, 10), "Dana", "Ermekova", iins)
    erlan = book(server, in_seoul(CLOSED_DAY, 14), "Erlan", "Tulegenov", iins)
    saturday = format_date(date(2026, 12, 5), "EEEE", locale="en")
    staff.sign_in(staff_accounts["manager.seoul"])

    page.get_by_role("navigation", name=t("Staff")).get_by_role("link", name=t("Schedule")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(t("Schedule"))
    staff.checkpoint("schedule", audit=False)

    # The week's load; a single slot can be blocked and reopened.
    page.get_by_role("link", name=t("Week view with the load of each slot")).click()
    staff.heading(t("Week of %(date)s", date=format_date(BOOKING_DAY, "long", locale="en")))
    thursday = page.get_by_role("region", name=format_date(CLOSED_DAY, "EEEE d MMMM", locale="en"))
    ten = thursday.get_by_role("row").filter(has_text="10:00")
    # Three desks, one of whose seats is kept for walk-ins: the demo office keeps 10 % of the
    # day's 66 desk-slots, 7 seats spread over the day, and 10:00 is one of them.
    expect(ten).to_contain_text("1 / 2")
    staff.checkpoint("week")
    ten.get_by_role("button", name=t("Block")).click()
    staff.says(t("The slot is blocked."))
    expect(ten).to_contain_text(t("blocked"))
    staff.checkpoint("week-slot-blocked", audit=False)
    ten.get_by_role("button", name=t("Reopen")).click()
    staff.says(t("The slot is open again."))
    page.get_by_role("link", name=t("Back to the schedule")).click()

    # Saturday mornings open. The days are offered side by side, in normal weight.
    hours = page.get_by_role("region", name=t("Opening hours and desks"))
    days = page.get_by_role("group", name=t("Days"))
    monday, tuesday = (days.locator("label").nth(n).bounding_box() for n in (0, 1))
    assert monday is not None and tuesday is not None
    assert monday["y"] == tuesday["y"] and monday["x"] < tuesday["x"]
    expect(days.locator("label").first).to_have_css("font-weight", "400")
    days.get_by_label(saturday).check()
    page.get_by_label(t("Opens"), exact=True).fill("10:00")
    page.get_by_label(t("Closes"), exact=True).fill("13:00")
    page.get_by_label(t("Desks"), exact=True).fill("1")
    page.get_by_role("button", name=t("Add"), exact=True).click()
    staff.says(t("The opening hours are saved and the slots updated."))
    expect(hours.get_by_role("row").filter(has_text=saturday)).to_have_text(
        re.compile(rf"{saturday}\s*10:00\s*13:00\s*1\b")
    )

    # Closing a day with bookings lists them for a decision.
    page.get_by_label(t("From"), exact=True).fill(CLOSED_DAY.isoformat())
    page.get_by_label(t("Reason"), exact=True).fill("Staff training")
    page.get_by_role("button", name=t("Close these days")).click()
    staff.says(t("The closure is saved and the slots updated."))
    closures = page.get_by_role("region", name=t("Closures"))
    expect(closures.get_by_role("row").filter(has_text="Staff training")).to_have_count(1)
    affected = page.get_by_role("region", name=t("Appointments outside the new schedule"))
    expect(affected.get_by_role("row").filter(has_text=dana.name)).to_contain_text(dana.reference)
    expect(affected.get_by_role("row").filter(has_text=erlan.name)).to_contain_text(erlan.reference)
    staff.checkpoint("affected")

    # One is cancelled with a message, which the citizen gets by email.
    message = "The consular section is closed for staff training; please book another day."
    row = affected.get_by_role("row").filter(has_text=dana.reference)
    affected.get_by_label("English", exact=True).fill(message)
    row.get_by_role("button", name=f"{t('Cancel and email')} {dana.reference}").click()
    staff.says(t("The appointment is cancelled and the citizen emailed."))
    expect(affected.get_by_role("row").filter(has_text=dana.reference)).to_have_count(0)
    server.deliver_mail()
    email = server.emails_to(dana.email)[-1]
    assert email["Subject"] == t(
        "Your appointment %(reference)s is cancelled by the office", reference=dana.reference
    )
    body = email.get_body(preferencelist=("plain",))
    assert body is not None
    assert message in body.get_content()

    # The other is kept.
    affected.get_by_role("button", name=f"{t('Keep')} {erlan.reference}").click()
    staff.says(t("The appointment is kept."))
    expect(affected).to_have_count(0)
    server.deliver_mail()
    subjects = [str(m["Subject"]) for m in server.emails_to(erlan.email)]
    assert not [s for s in subjects if "cancelled" in s], subjects
    staff.checkpoint("decided", audit=False)

    # Online booking closes, with a message for the public.
    notice = "Online booking is paused until 14 December. Walk-ins are welcome."
    page.get_by_role("radio", name=t("Closed")).check()
    page.get_by_label(f"{t('Public message when closed')} (en)").fill(notice)
    share = page.get_by_label(t("Share of desk capacity kept for walk-ins (percent)"))
    share.fill("20")
    page.get_by_role("button", name=t("Save")).click()
    staff.says(t("The booking settings are saved."))
    expect(page.get_by_role("radio", name=t("Closed"))).to_be_checked()
    expect(share).to_have_value("20")
    staff.checkpoint("booking-closed", audit=False)
    page.goto("/book/seoul")
    staff.heading(t("Online booking is closed"))
    expect(page.locator("main .notice")).to_have_text(notice)
    staff.checkpoint("public-booking-closed")


def test_signing_in_and_changing_the_password(
    staff: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    page, t = staff.page, staff.t
    clerk = staff_accounts["clerk.busan"]
    staff.sign_in(clerk, audit=True)
    expect(page).to_have_url(re.compile(r"/staff/busan$"))

    page.get_by_role("link", name=t("Password"), exact=True).click()
    staff.heading(t("Change your password"))
    staff.checkpoint("password")
    page.get_by_role("button", name=t("Change password")).click()
    expect(page.get_by_role("alert")).to_be_focused()
    staff.checkpoint("password-errors")
    new_password = "amber lantern over the river"
    page.get_by_label(t("Current password")).fill(clerk.password)
    page.get_by_label(t("New password"), exact=True).fill(new_password)
    page.get_by_label(t("New password again")).fill(new_password)
    page.get_by_role("button", name=t("Change password")).click()
    staff.says(t("Your password is changed. Other sessions have been signed out."))

    page.get_by_role("button", name=t("Sign out")).click()
    staff.says(t("You have signed out."))
    staff.sign_in(StaffAccount(clerk.email, new_password, clerk.role))
    expect(page).to_have_url(re.compile(r"/staff/busan$"))


# Steps at the staff pages


@dataclass
class Staff:
    """A member of staff at the browser; each checkpoint is a screenshot and an axe-core check
    (unless the same page in the same state has been checked before)."""

    page: Page
    shots: Screenshots
    server: LiveServer
    t: Callable[..., str]
    display: Page | None = None  # the waiting-room screen, once opened
    display_errors: list[str] = field(default_factory=list)

    def checkpoint(self, step: str, *, audit: bool = True) -> None:
        """Take a screenshot of this step and, unless told not to, check it with axe-core."""
        self.shots.take(step)
        if audit:
            assert_accessible(self.page)

    def checkpoint_of(self, other: Page, step: str, *, audit: bool = True) -> None:
        self.shots.take_of(other, step)
        if audit:
            assert_accessible(other)

    def heading(self, text: str) -> None:
        expect(self.page.get_by_role("heading", level=1)).to_have_text(text)

    def says(self, text: str) -> None:
        """The page says it in a live region (role=status)."""
        expect(self.page.get_by_role("status").filter(has_text=text)).to_have_count(1)

    def press(self, name: str) -> None:
        self.page.get_by_role("button", name=name, exact=True).click()

    def sign_in(self, account: StaffAccount, *, audit: bool = False) -> None:
        """Sign in; when auditing, with a wrong password first."""
        page, t = self.page, self.t
        page.goto("/staff/sign-in")
        self.heading(t("Staff sign-in"))
        self.checkpoint("sign-in", audit=audit)
        page.get_by_label(t("Email address")).fill(account.email)
        if audit:
            page.get_by_label(t("Password")).fill(account.password + "x")
            self.press(t("Sign in"))
            expect(page.get_by_role("alert")).to_contain_text(
                t("The email address or the password is wrong.")
            )
            expect(page.get_by_role("alert")).to_be_focused()
            self.checkpoint("sign-in-wrong-password")
        page.get_by_label(t("Password")).fill(account.password)
        self.press(t("Sign in"))
        expect(page.get_by_role("navigation", name=t("Staff"))).to_be_visible()

    # The day's queue

    @property
    def desk(self) -> Locator:
        return self.page.get_by_role("combobox", name=self.t("Your desk"), exact=True)

    @property
    def current(self) -> Locator:
        return self.page.locator(".current-ticket")

    @property
    def transfer_service(self) -> Locator:
        return self.current.get_by_role("combobox", name=self.t("Transfer to service"))

    @property
    def transfer_desk(self) -> Locator:
        return self.current.get_by_role("combobox", name=self.t("or to desk"))

    def use_desk(self, name: str) -> None:
        self.desk.select_option(label=name)
        self.press(self.t("Use this desk"))
        expect(self.desk.locator("option:checked")).to_have_text(name)

    def check_in(self, reference: str) -> None:
        self.page.get_by_role("textbox", name=self.t("Booking reference")).fill(reference)
        self.press(self.t("Check in"))

    def walk_in(self, *, urgent: bool = False) -> None:
        page, t = self.page, self.t
        services = page.get_by_label(t("Service"), exact=True)
        # Each service is listed with the walk-in minutes it takes: "… (15 min)".
        option = services.locator("option", has_text=f"{PASSPORT} (")
        expect(option).to_have_text(re.compile(rf"^{re.escape(PASSPORT)} \(\d+\u00a0min\)$"))
        services.select_option(value=option.get_attribute("value"))
        urgent_box = page.get_by_label(t("Urgent case (served first, beyond the walk-in share)"))
        urgent_box.set_checked(urgent)
        self.press(t("Issue a ticket"))

    def current_is(self, label: str, visitor: str) -> None:
        expect(self.current.locator(".ticket-label")).to_have_text(label)
        expect(self.current).to_contain_text(visitor)

    def ticket(self, label: str) -> Locator:
        tickets = self.page.get_by_role("region", name=self.t("Tickets"), exact=True)
        return tickets.get_by_role("row").filter(has_text=label)

    def ticket_has(self, label: str, status: str, desk: str, visitor: str) -> None:
        """The ticket's row: ticket, status, service, desk, waiting time, visitor, actions."""
        cells = self.ticket(label).get_by_role("cell")
        expect(cells.nth(1)).to_have_text(status)
        expect(cells.nth(3)).to_have_text(desk)
        expect(cells.nth(5)).to_have_text(visitor)

    def back_to_the_queue(self, label: str) -> None:
        self.ticket(label).get_by_role(
            "button", name=f"{self.t('Back to the queue')} {label}"
        ).click()

    def appointment(self, reference: str) -> Locator:
        appointments = self.page.get_by_role("region", name=self.t("Appointments"), exact=True)
        return appointments.get_by_role("row").filter(has_text=reference)

    # The waiting room

    def open_display(self, context: BrowserContext) -> Page:
        """The office's display in a second window, on a big screen, counting its chimes.

        Its clock is Playwright's, so that the test can move it on by a polling interval.
        """
        display = self.display = context.new_page()
        display.on("pageerror", lambda error: self.display_errors.append(str(error)))
        display.set_viewport_size(VIEWPORTS["waiting-room"])
        display.add_init_script(
            """(() => {
                const Original = window.AudioContext;
                window.AudioContext = class extends Original {
                    constructor() {
                        const root = document.documentElement;
                        root.dataset.chimes = String(Number(root.dataset.chimes || 0) + 1);
                        super();
                    }
                };
            })();"""
        )
        display.clock.install()
        display.goto("/staff/seoul/display")
        expect(display.get_by_role("heading", level=1)).to_be_visible()
        return display

    def display_polls(self, times: int = 1) -> None:
        """Move the display's clock on by a polling interval, and wait for the feed's answer."""
        assert self.display is not None
        for _poll in range(times):
            with self.display.expect_response(re.compile(r"/display\.json$")):
                self.display.clock.run_for(POLL_MS)


@pytest.fixture
def staff(
    page: Page, shots: Screenshots, live_server: LiveServer, texts: Callable
) -> Iterator[Staff]:
    """A member of staff in English; fails the test on a JavaScript error of the display too."""
    member = Staff(page, shots, live_server, texts("en"))
    yield member
    assert not member.display_errors, f"JavaScript errors on the display: {member.display_errors}"
