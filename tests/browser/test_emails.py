"""The citizen's e-mails as a person sees them: the HTML bodies at phone width (a button whose
label wraps stays readable, nothing scrolls sideways), and the QR code of the confirmation
page and e-mail read by an independent decoder after a language switch on the code page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from consular.extensions import db
from consular.models import Office, OutboxMessage, ServiceType
from consular.models.i18n import LANGUAGES
from consular.services import booking
from tests.browser.conftest import LiveServer, Screenshots
from tests.browser.test_booking_journey import Citizen
from tests.conftest import SECRET, booking_body
from tests.emails import KINDS, every_email, first_free_start
from tests.qr import decode_qr

pytestmark = pytest.mark.slow

PHONE_WIDTH = 360
BUTTON = 'a[style*="background:#006f86"]'

# What the layout gives each button: its box, its boxes (an inline link broken over lines has
# one a line), the line height and the rectangle of each line of its label; the boxes of the
# blocks around it; and the width of the whole document.
MEASURE = """
(selector) => {
  const box = (r) => ({top: r.top, bottom: r.bottom, left: r.left, right: r.right});
  const buttons = [...document.querySelectorAll(selector)].map((button) => {
    const range = document.createRange();
    range.selectNodeContents(button);
    const around = [button.parentElement.previousElementSibling,
                    button.parentElement.nextElementSibling].filter(Boolean);
    return {
      label: button.textContent,
      box: box(button.getBoundingClientRect()),
      fragments: button.getClientRects().length,
      lineHeight: parseFloat(getComputedStyle(button).lineHeight),
      lines: [...range.getClientRects()].map(box),
      around: around.map((element) => box(element.getBoundingClientRect())),
    };
  });
  return {buttons, scrollWidth: document.documentElement.scrollWidth};
}
"""


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two rectangles share more than an edge (half a pixel of rounding allowed)."""
    return (
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
        and min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5
    )


def text_lines(lines: list[dict[str, float]]) -> list[dict[str, float]]:
    """The label's lines: the range's rectangles, those of one line merged."""
    merged: list[dict[str, float]] = []
    for line in sorted(lines, key=lambda r: (r["top"], r["left"])):
        if merged and abs(merged[-1]["top"] - line["top"]) < 1:
            merged[-1] = merged[-1] | {
                "left": min(merged[-1]["left"], line["left"]),
                "right": max(merged[-1]["right"], line["right"]),
                "bottom": max(merged[-1]["bottom"], line["bottom"]),
            }
        else:
            merged.append(dict(line))
    return merged


def _with_images(message: OutboxMessage) -> str:
    """The HTML body with its inline images (cid: links) as data: links, as a mail client
    shows them."""
    html = str(message.html_body)
    for attachment in message.attachments:
        if attachment.get("content_id"):
            data = f"data:{attachment['content_type']};base64,{attachment['content']}"
            html = html.replace(f"cid:{attachment['content_id']}", data)
    return html


@pytest.fixture
def html_bodies(live_server: LiveServer) -> Callable[[str], dict[str, str]]:
    """The HTML body of each kind of e-mail in a language, for a visit at the demo office."""
    policy = booking.BookingPolicy(secret=SECRET)
    iins = iter(("850502401238", "900101300126", "000229500018", "061211600012"))

    def in_language(language: str) -> dict[str, str]:
        with live_server.app.app_context():
            office = db.session.scalars(sa.select(Office).where(Office.code == "seoul")).one()
            service = db.session.scalars(
                sa.select(ServiceType).where(ServiceType.code == "passport-renewal")
            ).one()
            start = first_free_start(db.session, office, [service], live_server.clock())
            body = booking_body(
                office,
                [service],
                start,
                language=language,
                applicant={"iin": next(iins), "email": f"{language}@example.com"},
                details={"current_passport": {"expiry_date": "2028-01-31"}},
            )
            emails = every_email(db.session, body, live_server.clock(), policy)
            bodies = {kind: _with_images(emails.by_kind[kind]) for kind in KINDS}
            db.session.remove()
        return bodies

    return in_language


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_buttons_of_every_email_stay_readable_at_phone_width(
    page: Page, shots: Screenshots, html_bodies: Callable[[str], dict[str, str]], language: str
) -> None:
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    wrapped: list[str] = []
    buttons_seen = 0
    for kind, html in html_bodies(language).items():
        page.set_content(html)
        shots.take(f"{kind}-{language}")
        measured: dict[str, Any] = page.evaluate(MEASURE, BUTTON)
        assert measured["scrollWidth"] <= PHONE_WIDTH, f"{kind} is {measured['scrollWidth']}px"
        for button in measured["buttons"]:
            buttons_seen += 1
            name = f"{kind} ({language}): {button['label']!r}"
            lines = text_lines(button["lines"])
            box = button["box"]
            # One box that holds every line of the label, each line a line height apart.
            assert button["fragments"] == 1, name
            assert box["bottom"] - box["top"] >= len(lines) * button["lineHeight"], name
            for line in lines:
                assert box["top"] <= line["top"] and line["bottom"] <= box["bottom"], name
                assert box["left"] <= line["left"] and line["right"] <= box["right"], name
            for upper, lower in zip(lines, lines[1:], strict=False):
                assert upper["bottom"] <= lower["top"] + 0.5, name
            assert box["right"] <= PHONE_WIDTH, name
            for neighbour in button["around"]:
                assert not overlap(box, neighbour), name
            if len(lines) > 1:
                wrapped.append(kind)
    # Each e-mail but the code's and the cancellation's has its button.
    assert buttons_seen == len(KINDS) - 2
    if language != "ko":
        # The long labels do wrap at this width, so the test saw what broke before.
        assert {"confirmation", "reminder", "change"} <= set(wrapped), wrapped


def test_the_page_and_the_email_show_a_qr_code_zbar_reads_in_the_switched_language(
    page: Page,
    shots: Screenshots,
    live_server: LiveServer,
    texts: Callable,
    tmp_path: Path,
) -> None:
    email = "qr.reader@example.com"
    citizen = Citizen(page, shots, live_server, texts("en"), email)
    citizen.open_home()
    citizen.start_booking()
    citizen.choose_office_and_services()
    citizen.choose_a_day_and_time(next_month=True)
    citizen.fill_details()
    citizen.review_and_hold()
    # On the code page the citizen switches to Russian: the e-mails follow.
    citizen.choose_language("ru")
    citizen.t = texts("ru")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        citizen.t("Enter the code from your email")
    )
    reference = citizen.confirm_with_emailed_code()

    qr = page.locator(".qr svg")
    image = tmp_path / "page-qr.png"
    qr.screenshot(path=str(image))
    shots.take("confirmation-ru")
    assert decode_qr(image.read_bytes(), tmp_path) == [reference]

    live_server.deliver_mail()
    confirmation = live_server.emails_to(email)[-1]
    assert confirmation["Subject"] == citizen.t(
        "Appointment confirmed: %(reference)s", reference=reference
    )
    assert confirmation["Content-Language"] == "ru"
    [png] = [part for part in confirmation.walk() if part.get_content_type() == "image/png"]
    assert decode_qr(png.get_content(), tmp_path) == [reference]
    html = confirmation.get_body(preferencelist=("html",))
    assert html is not None
    cid = re.search(r'src="cid:([^"]+)"', html.get_content())
    assert cid is not None and png["Content-ID"] == f"<{cid.group(1)}>"
