"""The waiting-room display on its big screen: the office's clock, the call now in large
type with the calls before it, and a new call that stands out for a few seconds and is said
aloud in Korean and Russian once the sound is turned on.

The calls are made through the queue's services in the live server's database; the
display's clock is Playwright's, moved on by polling intervals. The browser's speech
synthesis is replaced by a recorder, which keeps what would have been said and in which
language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from consular.extensions import db
from consular.models import Desk, Office, ServiceType, User
from consular.services import queue
from tests.browser.conftest import VIEWPORTS, LiveServer, Screenshots
from tests.browser.test_booking_journey import assert_accessible
from tests.browser.test_staff_day import POLL_MS, VISIT_DAY, in_seoul

pytestmark = pytest.mark.slow

SPOKEN = "Ticket %(letter)s %(number)d, desk %(desk)s."
# Speech synthesis as a recorder, with a Korean and a Russian voice to choose from.
RECORD_SPEECH = """(() => {
    window.spoken = [];
    const voices = [{ lang: "ko-KR", name: "Korean" }, { lang: "ru_RU", name: "Russian" }];
    const synthesis = {
        speak(utterance) {
            window.spoken.push({ text: utterance.text, lang: utterance.lang,
                                 voice: utterance.voice ? utterance.voice.name : null });
        },
        getVoices() { return voices; },
        cancel() {},
    };
    Object.defineProperty(window, "speechSynthesis", { value: synthesis, configurable: true });
    window.SpeechSynthesisUtterance = class {
        constructor(text) { this.text = text; this.lang = ""; this.voice = null; }
    };
})();"""


class Queue:
    """The Seoul office's queue, worked by its clerk through the services."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def run(self, work: Callable[[Office, User, dict[str, Desk]], None]) -> None:
        with self.server.app.app_context():
            office = db.session.scalar(sa.select(Office).where(Office.code == "seoul"))
            clerk = db.session.scalar(sa.select(User).where(User.email.startswith("clerk.seoul")))
            desks = {
                d.name: d for d in db.session.scalars(sa.select(Desk).where(Desk.office == office))
            }
            work(office, clerk, desks)
            db.session.commit()
            db.session.remove()

    def walk_ins(self, count: int) -> None:
        def issue(office: Office, clerk: User, _desks: dict[str, Desk]) -> None:
            service = db.session.scalar(
                sa.select(ServiceType).where(ServiceType.code == "passport-renewal")
            )
            for _visitor in range(count):
                queue.issue_walk_in(db.session, office, service, clerk, self.server.clock(),
                                    urgent=True)  # fmt: skip

        self.run(issue)

    def call(self, desk: str, *, serve_first: bool = True) -> None:
        """Serve the visitor at the desk, if any, and call the next one to it."""

        def call(office: Office, clerk: User, desks: dict[str, Desk]) -> None:
            now = self.server.clock()
            at_desk = queue.visitor_at_desk(db.session, desks[desk], now)
            if at_desk is not None and serve_first:
                ticket = db.session.scalar(
                    sa.select(queue.Ticket).where(
                        queue.Ticket.label == at_desk,
                        queue.Ticket.office_id == office.id,
                        queue.Ticket.service_day == queue.service_day(office, now),
                    )
                )
                queue.serve(db.session, ticket, clerk, now)
            queue.call_next(db.session, office, desks[desk], clerk, now)

        self.run(call)
        self.server.clock.advance(minutes=2)

    def speak(self, languages: list[str]) -> None:
        def setting(office: Office, _clerk: User, _desks: dict[str, Desk]) -> None:
            office.calls_spoken, office.call_languages = True, languages

        self.run(setting)


def test_the_display_on_its_screen_shows_and_says_each_new_call(
    page: Page, shots: Screenshots, live_server: LiveServer, texts: Callable
) -> None:
    server, t = live_server, texts("en")
    server.clock.set(in_seoul(VISIT_DAY, 10, 0))
    desks = Queue(server)
    desks.speak(["ru", "ko"])
    desks.walk_ins(9)
    for _call in range(7):  # S-001 … S-007 called and served at desk 2
        desks.call("2")
    desks.call("1")  # S-008, at desk 1 now
    server.clock.set(in_seoul(VISIT_DAY, 10, 16) + timedelta(seconds=30))

    page.set_viewport_size(VIEWPORTS["waiting-room"])
    page.add_init_script(RECORD_SPEECH)
    page.clock.install()
    page.goto("/staff/seoul/display")
    # The office's time, from the server (the browser is in London).
    expect(page.locator("#clock")).to_have_text("10:16")
    calls, history = page.locator("#calls tr"), page.locator("#history tr")
    expect(calls).to_have_count(2)
    expect(calls.first.locator("td")).to_have_text(["S-008", "1"])
    expect(calls.first).to_have_class(re.compile(r"\blatest\b"))
    expect(calls.nth(1).locator("td")).to_have_text(["S-007", "2"])
    # The six calls before, newest first, smaller.
    expect(history).to_have_count(6)
    expect(history.locator("td:first-child")).to_have_text(
        ["S-006", "S-005", "S-004", "S-003", "S-002", "S-001"]
    )
    big = calls.first.locator("td").first.evaluate(
        "cell => parseFloat(getComputedStyle(cell).fontSize)"
    )
    small = history.first.locator("td").first.evaluate(
        "cell => parseFloat(getComputedStyle(cell).fontSize)"
    )
    assert big > 1.5 * small
    sound = page.get_by_role("button", name=t("Turn on sound"))
    expect(sound).to_be_visible()
    shots.take("display")
    assert_accessible(page)

    # The clock ticks between polls.
    page.clock.run_for(60_000)
    expect(page.locator("#clock")).to_have_text("10:17")

    # Sound on: one silent utterance unlocks speech, and the button goes.
    sound.click()
    expect(sound).to_be_hidden()
    assert page.evaluate("window.spoken") == [{"text": "", "lang": "", "voice": None}]

    # A new call: after one poll it is at the top, reversed out, announced and said.
    desks.call("2")  # S-007 served, S-009 called
    server.clock.set(in_seoul(VISIT_DAY, 10, 18))
    with page.expect_response(re.compile(r"/display\.json$")):
        page.clock.run_for(POLL_MS)
    expect(calls.first.locator("td")).to_have_text(["S-009", "2"])
    expect(calls.first).to_have_class(re.compile(r"\bnew-call\b"))
    expect(calls.first).to_have_class(re.compile(r"\blatest\b"))
    expect(calls.nth(1)).not_to_have_class(re.compile(r"\bnew-call\b"))
    expect(page.locator("#clock")).to_have_text("10:18")
    expect(history.first.locator("td")).to_have_text(["S-007", "2"])
    expect(page.locator("#announcement")).to_have_text(t(SPOKEN, letter="S", number=9, desk="2"))
    ko, ru = texts("ko"), texts("ru")
    assert page.evaluate("window.spoken")[1:] == [
        {"text": ko(SPOKEN, letter="S", number=9, desk="2"), "lang": "ko-KR", "voice": "Korean"},
        {"text": ru(SPOKEN, letter="S", number=9, desk="2"), "lang": "ru-RU", "voice": "Russian"},
    ]
    shots.take("display-new-call")
    # A few seconds later it is only the newest call; nothing is said again.
    with page.expect_response(re.compile(r"/display\.json$")):
        page.clock.run_for(4 * POLL_MS)
    expect(calls.first).not_to_have_class(re.compile(r"\bnew-call\b"))
    expect(calls.first).to_have_class(re.compile(r"\blatest\b"))
    assert len(page.evaluate("window.spoken")) == 3
    shots.take("display-after")
