"""The lottery in a real browser, in each language: the release announced on the home page, the
entry form, the code, the entry in the draw, and after the draw the result: a seat to confirm,
or a place in line. Every page is checked with axe-core and fits the screen.

Every step saves a full-page screenshot to artifacts/screenshots/<test>/<nn>-<step>.png.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from consular.extensions import db
from consular.models import LotteryRelease, Office, ServiceType, Slot
from consular.services import lottery
from consular.services.schedule import local_day_bounds, set_slot_blocked
from tests.browser.conftest import LiveServer, Screenshots
from tests.browser.test_booking_journey import APPLICANT, assert_accessible, assert_fits_the_screen

pytestmark = pytest.mark.slow

# The test clock is Sunday 2026-11-29 12:00 in Seoul; the lottery gives out Monday 14 December.
LOTTERY_DAY = date(2026, 12, 14)
LANGUAGES = ["kk", "ru", "en", "ko"]


@pytest.fixture
def release(live_server: LiveServer) -> Iterator[int]:
    """A lottery of Seoul's passport renewals on 14 December, open until tomorrow."""
    with live_server.app.app_context():
        now = live_server.clock()
        office = db.session.scalar(sa.select(Office).where(Office.code == "seoul"))
        service = db.session.scalar(
            sa.select(ServiceType).where(ServiceType.code == "passport-renewal")
        )
        made = lottery.create_release(
            db.session,
            None,
            now,
            lottery.ReleaseData(
                office_id=office.id,
                service_ids=[service.id],
                first_day=LOTTERY_DAY,
                last_day=LOTTERY_DAY,
                opens_at=now - timedelta(hours=1),
                closes_at=now + timedelta(days=1),
                draw_at=now + timedelta(days=1),
                confirm_hours=48,
            ),
        )
        db.session.commit()
        release_id = made.id
        db.session.remove()
    yield release_id


def draw(live_server: LiveServer, release_id: int) -> None:
    """Move the clock to the draw and run it, as `flask lottery draw` does."""
    with live_server.app.app_context():
        release = db.session.get(LotteryRelease, release_id)
        assert release is not None
        live_server.clock.set(release.draw_at)
        policy = lottery.policy_from_config(live_server.app.config)
        assert lottery.draw(db.session, release_id, live_server.clock(), policy) is not None
        db.session.commit()
        db.session.remove()


def block_the_afternoon(live_server: LiveServer) -> None:
    """Close the lottery day's afternoon slots, so that a preference for it can't be met."""
    with live_server.app.app_context():
        office = db.session.scalar(sa.select(Office).where(Office.code == "seoul"))
        start, end = local_day_bounds(LOTTERY_DAY, office.zone)
        noon = datetime.combine(LOTTERY_DAY, time(12), tzinfo=office.zone)
        for slot in db.session.scalars(
            sa.select(Slot).where(
                Slot.office_id == office.id, Slot.starts_at >= noon, Slot.starts_at < end
            )
        ):
            set_slot_blocked(db.session, slot, True, None, live_server.clock())  # type: ignore[arg-type]
        assert start < noon
        db.session.commit()
        db.session.remove()


class Entrant:
    """A citizen entering the lottery, step by step, in one language."""

    def __init__(
        self, page: Page, shots: Screenshots, server: LiveServer, t: Callable, email: str
    ) -> None:
        self.page, self.shots, self.server, self.t, self.email = page, shots, server, t, email

    def checkpoint(self, step: str) -> None:
        self.shots.take(step)
        assert_accessible(self.page)
        assert_fits_the_screen(self.page)

    def heading(self, text: str) -> None:
        expect(self.page.get_by_role("heading", level=1)).to_have_text(text)

    def open_home_in(self, language: str) -> None:
        page = self.page
        page.goto("/")
        # As a person would: the page has finished loading before they switch its language.
        page.wait_for_load_state("networkidle")
        page.locator("#language-select").select_option(language)
        expect(page.locator("html")).to_have_attribute("lang", language)
        notice = page.locator(".lottery-notice").first
        expect(notice).to_be_visible()
        self.checkpoint("home")

    def open_the_lottery(self) -> None:
        page, t = self.page, self.t
        page.locator(".lottery-notice a").first.click()
        self.heading(t("Lottery for appointments"))
        expect(page.locator("main")).to_contain_text(t("Open for entries"))
        self.checkpoint("release")
        page.get_by_role("link", name=t("Enter the draw"), exact=True).click()
        self.heading(t("Enter the draw"))

    def fill_the_entry(self, *, iin: str, phone: str, part: str, accept_any: bool) -> None:
        page, t = self.page, self.t
        page.get_by_role("button", name=t("Enter the draw and send the code")).click()
        expect(page.get_by_role("alert")).to_be_focused()
        self.checkpoint("entry-errors")
        for name, value in (APPLICANT | {"iin": iin, "phone": phone}).items():
            page.locator(f"#{name}").fill(value)
        page.locator("#email").fill(self.email)
        page.locator("#preference_day_1").select_option(LOTTERY_DAY.isoformat())
        page.locator("#preference_part_1").select_option(part)
        page.locator("#accept_any").set_checked(accept_any)
        self.checkpoint("entry-form")
        page.get_by_role("button", name=t("Enter the draw and send the code")).click()

    def confirm_the_code(self) -> str:
        page, t = self.page, self.t
        self.heading(t("Enter the code from your email"))
        self.checkpoint("code")
        page.locator("#code").fill(self.server.latest_code(self.email))
        page.get_by_role("button", name=t("Confirm the entry")).click()
        self.heading(t("You are in the draw"))
        expect(page.get_by_role("status").first).to_contain_text(
            t("Your entry is in the draw. We have sent you an email.")
        )
        self.checkpoint("entered")
        return page.url


@pytest.fixture
def entrant(page: Page, shots: Screenshots, live_server: LiveServer, texts: Callable) -> Entrant:
    return Entrant(page, shots, live_server, texts("en"), "entrant@example.com")


@pytest.mark.parametrize("language", LANGUAGES)
def test_entering_the_lottery_and_confirming_the_seat_it_gives(
    entrant: Entrant, live_server: LiveServer, release: int, texts: Callable, language: str
) -> None:
    page = entrant.page
    t = entrant.t = texts(language)
    if language != "en":
        assert t("Enter the draw") != "Enter the draw", "the lottery pages are not translated"
    entrant.open_home_in(language)
    entrant.open_the_lottery()
    entrant.fill_the_entry(iin=APPLICANT["iin"], phone=APPLICANT["phone"], part="morning",
                           accept_any=True)  # fmt: skip
    entry_page = entrant.confirm_the_code()
    live_server.deliver_mail()
    subjects = [str(m["Subject"]) for m in live_server.emails_to(entrant.email)]
    reference = entry_page.rsplit("/", 1)[1]
    assert t("You are in the draw: %(reference)s", reference=reference) in subjects

    draw(live_server, release)
    page.goto(entry_page)
    entrant.heading(t("The draw has given you an appointment"))
    expect(page.locator("dl.summary").first).to_contain_text(t("Date"))
    entrant.checkpoint("won")
    page.get_by_role("button", name=t("Confirm the appointment")).click()
    entrant.heading(t("Your appointment is booked"))
    expect(page.get_by_role("status").first).to_contain_text(
        t("Your appointment is booked. We have sent you an email.")
    )
    entrant.checkpoint("booked")
    live_server.deliver_mail()
    assert len(live_server.emails_to(entrant.email)) == 4  # code, entered, won, confirmed


def test_an_entrant_without_a_seat_sees_their_place_in_line(
    entrant: Entrant, live_server: LiveServer, release: int, texts: Callable
) -> None:
    page = entrant.page
    t = entrant.t = texts("ru")
    block_the_afternoon(live_server)
    entrant.open_home_in("ru")
    entrant.open_the_lottery()
    entrant.fill_the_entry(iin=APPLICANT["iin"], phone=APPLICANT["phone"], part="afternoon",
                           accept_any=False)  # fmt: skip
    entry_page = entrant.confirm_the_code()

    draw(live_server, release)
    page.goto(entry_page)
    entrant.heading(t("No seat for you yet"))
    expect(page.get_by_role("status").first).to_contain_text(
        t("You are number %(place)d in line.", place=1)
    )
    entrant.checkpoint("in-line")
    page.get_by_role("button", name=t("I want to join the waiting list if I get no seat")).click()
    expect(page.get_by_role("status").first).to_contain_text(
        t("We have noted that you want to join the waiting list.")
    )
    entrant.checkpoint("waiting-list")
    live_server.deliver_mail()
    subjects = [str(m["Subject"]) for m in live_server.emails_to(entrant.email)]
    assert t("Lottery result: %(reference)s", reference=entry_page.rsplit("/", 1)[1]) in subjects
