"""The manager's schedule in a real browser, and what citizens see of it.

Every step saves a full-page screenshot to artifacts/screenshots/<test>/<nn>-<step>.png; the
citizen's window is numbered in the same row, its steps named citizen-<step>.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import LiveServer, Screenshots, StaffAccount
from tests.browser.test_staff_day import Staff

pytestmark = pytest.mark.slow


@pytest.fixture
def manager(page: Page, shots: Screenshots, live_server: LiveServer, texts: Callable) -> Staff:
    """Seoul's demo manager at the browser, in English."""
    return Staff(page, shots, live_server, texts("en"))


@pytest.fixture
def citizen_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A citizen's browser of its own, in English."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_closed_days_show_their_public_reason_to_citizens_and_hide_staff_only_ones(
    manager: Staff, citizen_page: Page, staff_accounts: dict[str, StaffAccount]
) -> None:
    page, t = manager.page, manager.t
    manager.sign_in(staff_accounts["manager.seoul"])
    page.goto("/staff/seoul/schedule")
    closures = page.get_by_role("region", name=t("Closures"))

    page.get_by_label(t("From"), exact=True).fill("2026-12-10")
    page.get_by_label(t("Reason"), exact=True).fill("Staff training day")
    page.get_by_role("button", name=t("Close these days")).click()
    manager.says(t("The closure is saved and the slots updated."))

    page.get_by_label(t("From"), exact=True).fill("2026-12-11")
    page.get_by_label(t("Reason"), exact=True).fill("Burst pipe, insurer visit (ticket 4471)")
    page.get_by_label(t("Staff only: not shown to the public")).check()
    page.get_by_role("button", name=t("Close these days")).click()
    manager.says(t("The closure is saved and the slots updated."))
    expect(closures.get_by_role("row").filter(has_text="ticket 4471")).to_contain_text(
        t("staff only")
    )
    manager.checkpoint("closures", audit=False)

    citizen_page.goto("/book/seoul/time?services=passport-renewal&month=2026-12")
    public = citizen_page.locator("td.day-closed").filter(has_text="10")
    expect(public.locator("span").first).to_have_attribute(
        "aria-label", "Thursday, December 10, 2026: closed (Staff training day)"
    )
    private = citizen_page.locator("td.day-closed").filter(has_text="11")
    expect(private.locator("span").first).to_have_attribute(
        "aria-label", "Friday, December 11, 2026: closed"
    )
    expect(citizen_page.locator(".closed-days")).to_contain_text(
        "Thursday, December 10, 2026: Staff training day"
    )
    expect(citizen_page.locator("main")).not_to_contain_text("4471")
    manager.checkpoint_of(citizen_page, "citizen-calendar", audit=True)


def test_opening_hours_changed_in_place_split_by_a_break_and_removed_once_confirmed(
    manager: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    page, t = manager.page, manager.t
    manager.sign_in(staff_accounts["manager.seoul"])
    page.goto("/staff/seoul/schedule")
    hours = page.get_by_role("region", name=t("Opening hours and desks"))
    monday_morning = hours.get_by_role("row").filter(has_text="Monday").filter(has_text="09:00")
    monday_morning.get_by_role("link", name=t("Change or add a break")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Monday 09:00")
    manager.checkpoint("period")

    # A break in one step.
    split = page.get_by_role("region", name=t("Add a break"))
    split.get_by_label(t("Break begins")).fill("10:30")
    split.get_by_label(t("Break ends")).fill("11:00")
    split.get_by_role("button", name=t("Add the break")).click()
    manager.says(t("The break is added and the slots updated."))
    mondays = hours.get_by_role("row").filter(has_text="Monday")
    expect(mondays.filter(has_text="10:30")).to_have_count(1)
    expect(mondays.filter(has_text="11:00")).to_have_count(1)
    manager.checkpoint("break-added", audit=False)

    # The morning's first part starts later from a Monday on; the Mondays before keep it.
    mondays.filter(has_text="09:00").get_by_role("link", name=t("Change or add a break")).click()
    change = page.get_by_role("region", name=t("Change the hours"))
    change.get_by_label(t("Opens"), exact=True).fill("09:30")
    change.get_by_label(t("From (optional)")).fill("2026-12-14")
    change.get_by_role("button", name=t("Save the change")).click()
    manager.says(t("The opening hours are saved and the slots updated."))
    expect(page.get_by_role("status")).not_to_contain_text("decide below")
    expect(mondays.filter(has_text="09:30")).to_contain_text("Dec 14, 2026")
    manager.checkpoint("changed-from-a-day", audit=False)

    # Removing asks for a confirmation first.
    mondays.filter(has_text="11:00").get_by_role("link", name=t("Remove")).click()
    removal = page.get_by_role("region", name=t("Remove these hours"))
    removal.get_by_role("button", name=t("Remove")).click()
    expect(removal.get_by_role("alert")).to_contain_text(t("Tick the box to confirm the removal."))
    manager.checkpoint("removal-unconfirmed")
    removal = page.get_by_role("region", name=t("Remove these hours"))
    removal.get_by_label(t("Yes, remove these hours")).check()
    removal.get_by_role("button", name=t("Remove")).click()
    manager.says(t("The opening hours are saved and the slots updated."))
    expect(mondays.filter(has_text="11:00")).to_have_count(0)
    manager.checkpoint("removed", audit=False)


def test_public_holidays_are_collapsed_and_named_in_the_pages_language(
    manager: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    page, t = manager.page, manager.t
    manager.sign_in(staff_accounts["manager.seoul"])
    page.goto("/staff/seoul/schedule")
    holidays = page.locator("details.holidays")
    expect(holidays).not_to_have_attribute("open", "")
    expect(holidays.get_by_role("row").filter(has_text="Christmas Day").first).to_be_hidden()
    booking = page.get_by_role("heading", name=t("Online booking and walk-ins"))
    summary = holidays.locator("summary").bounding_box()
    heading = booking.bounding_box()
    assert summary is not None and heading is not None
    # The holidays take one line (not 52 rows): only the closure form comes before the
    # booking settings.
    assert heading["y"] - summary["y"] < 700
    manager.checkpoint("holidays-collapsed")
    holidays.locator("summary").click()
    expect(holidays.get_by_role("row").filter(has_text="Christmas Day").first).to_be_visible()
    manager.checkpoint("holidays-open", audit=False)

    page.locator("#language-select").select_option("ko")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    page.locator("details.holidays summary").click()
    expect(page.locator("details.holidays")).to_contain_text("신정연휴")
    expect(page.locator("details.holidays")).to_contain_text("기독탄신일")  # Christmas Day
    expect(page.locator("details.holidays")).not_to_contain_text(": Christmas Day")
    manager.checkpoint("holidays-in-korean", audit=False)
