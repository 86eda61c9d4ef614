"""The review of suspicious bookings in a real browser: a script holds visits at Seoul from one
address with addresses on one catch-all domain; the administrator finds the clusters, reads the
page in Kazakh, Russian, English and Korean, cancels the selected bookings of the domain's
cluster with the default messages, and each citizen gets the email in their language; the
Seoul manager reads the review but can't cancel.

Every step saves a full-page screenshot to artifacts/screenshots/<test>/<nn>-<step>.png and is
checked with axe-core.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, Screenshots, StaffAccount
from tests.browser.test_admin import sign_in_to_the_administration
from tests.browser.test_staff_day import Staff
from tests.conftest import valid_iins

pytestmark = pytest.mark.slow

CATCH_ALL = "resell-slots.example"
# The script's citizens, one in each language and two more in Russian and Kazakh.
LANGUAGES = ["kk", "ru", "en", "ko", "ru", "kk"]
# What the confirmation step offers to tell the citizens (consular.services.suspicion).
DEFAULT_MESSAGE = (
    "We have cancelled this appointment because it was made together with other bookings in "
    "a way that points to an automated booking program or a reseller. Booking a consular "
    "appointment is free, and each person books for themselves on this website. If you made "
    "this booking yourself, please accept our apologies and book a new time with the link "
    "below; the office can also help you by phone."
)


@pytest.fixture
def reviewer(page: Page, shots: Screenshots, live_server: LiveServer, texts: Callable) -> Staff:
    """A member of staff at the browser, in English."""
    return Staff(page, shots, live_server, texts("en"))


def free_starts(server: LiveServer, count: int) -> list[str]:
    """The first free start times of passport renewals at Seoul that don't overlap."""
    url = f"{server.url}/api/v1/offices/seoul/availability?services=passport-renewal"
    with urllib.request.urlopen(url, timeout=10) as response:
        slots = json.load(response)["slots"]
    chosen: list[dict[str, str]] = []
    for slot in slots:
        # Visits that don't overlap, so that each hold leaves the next one its seats.
        if slot["available"] > 0 and (not chosen or slot["start"] >= chosen[-1]["end"]):
            chosen.append(slot)
    assert len(chosen) >= count, slots
    return [slot["start"] for slot in chosen[:count]]


def script_holds(server: LiveServer) -> list[tuple[str, str, str]]:
    """Hold visits through the API as a reseller's script would: (reference, email, language)."""
    iins = valid_iins()
    held = []
    for number, (start, language) in enumerate(
        zip(free_starts(server, len(LANGUAGES)), LANGUAGES, strict=True)
    ):
        email = f"buyer{number}@{CATCH_ALL}"
        status, answer = server.post_json(
            "/api/v1/appointments",
            {
                "office": "seoul",
                "services": ["passport-renewal"],
                "start": start,
                "language": language,
                "applicant": {
                    "given_name": "Serik",
                    "family_name": "Omarov",
                    "iin": next(iins),
                    "passport_number": f"N{40000000 + number}",
                    "email": email,
                    "phone": f"010-4{number:03d}-{number:04d}",
                },
                "details": {"current_passport": {"expiry_date": "2028-01-31"}},
            },
        )
        assert status == 201, answer
        held.append((answer["reference"], email, language))
    return held


def message_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return body.get_content()


def test_an_administrator_cancels_a_resellers_cluster_in_four_languages(
    reviewer: Staff, staff_accounts: dict[str, StaffAccount], texts: Callable
) -> None:
    staff = reviewer
    page, server = staff.page, staff.server
    held = script_holds(server)
    sign_in_to_the_administration(staff, staff_accounts["admin"])

    # The administration's menu leads to the review, which lists the domain's cluster.
    t = staff.t
    page.get_by_role("navigation", name=t("Administration")).get_by_role(
        "link", name=t("Suspicious bookings")
    ).click()
    staff.heading(t("Suspicious bookings"))
    clusters = page.locator(".cluster-list > li")
    domain_cluster = clusters.filter(has_text=CATCH_ALL)
    expect(domain_cluster).to_have_count(1)
    expect(domain_cluster).to_contain_text(f"{len(held)} bookings")
    staff.checkpoint("review-en")

    # The same page in every language.
    for language in ("kk", "ru", "ko", "en"):
        page.locator("#language-select").select_option(language)
        expect(page.locator("html")).to_have_attribute("lang", language)
        staff.t = t = texts(language)
        staff.heading(t("Suspicious bookings"))
        expect(domain_cluster.get_by_role("heading")).to_contain_text(
            t("The same private email domain")
        )
        if language != "en":
            staff.checkpoint(f"review-{language}")

    # The cluster's bookings, masked; one of them is left out of the cancellation.
    domain_cluster.get_by_role("link").click()
    staff.heading(f"{t('The same private email domain')}: {CATCH_ALL}")
    table = page.get_by_role("table")
    for reference, _email, _language in held:
        expect(table).to_contain_text(reference)
    expect(table).to_contain_text(f"b•••@{CATCH_ALL}")
    expect(table).not_to_contain_text("Omarov")
    kept_reference = held[2][0]
    page.get_by_label(t("Select %(reference)s", reference=kept_reference)).uncheck()
    staff.checkpoint("cluster")
    staff.press(t("Cancel the selected bookings…"))

    # The confirmation: the bookings, and the message in each language, already written.
    count = len(held) - 1
    staff.heading(f"Cancel {count} bookings")
    expect(page.get_by_role("table")).not_to_contain_text(kept_reference)
    for language in ("kk", "ru", "en", "ko"):
        field = page.locator(f"#message_{language}")
        expect(field).to_have_attribute("lang", language)
        expect(field).to_have_value(texts(language)(DEFAULT_MESSAGE))
    staff.checkpoint("confirm")
    staff.press(f"Cancel {count} bookings and email the citizens")
    staff.says(f"{count} bookings are cancelled and their citizens emailed.")
    staff.heading(t("Suspicious bookings"))
    expect(page.locator(".cluster-list > li").filter(has_text=CATCH_ALL)).to_contain_text(
        "1 still active"
    )
    staff.checkpoint("after-cancelling")

    # Each citizen's email is in their language; the one left out gets none.
    server.deliver_mail()
    for reference, email, language in held:
        in_language = texts(language)
        subject = in_language(
            "Your appointment %(reference)s has been cancelled", reference=reference
        )
        cancellations = [m for m in server.emails_to(email) if str(m["Subject"]) == subject]
        if reference == kept_reference:
            assert cancellations == []
            continue
        (message,) = cancellations
        text = message_text(message)
        assert in_language(DEFAULT_MESSAGE) in text
        assert in_language("Message from the office") in text
        assert f"{server.app.config['PUBLIC_BASE_URL']}/book" in text

    # The audit log has one entry with the references.
    page.goto("/admin/audit?action=cancel_suspicious")
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(1)
    for reference, _email, _language in held:
        if reference != kept_reference:
            expect(rows).to_contain_text(reference)


def test_a_manager_reads_the_review_of_their_office_but_cannot_cancel(
    reviewer: Staff, staff_accounts: dict[str, StaffAccount]
) -> None:
    staff = reviewer
    page, t = staff.page, staff.t
    script_holds(staff.server)
    staff.sign_in(staff_accounts["manager.seoul"])
    page.get_by_role("navigation", name=t("Staff")).get_by_role(
        "link", name=t("Suspicious bookings")
    ).click()
    staff.heading(t("Suspicious bookings"))
    expect(page.get_by_label(t("Office"))).to_have_value("")
    staff.checkpoint("review-manager")
    page.locator(".cluster-list > li").filter(has_text=CATCH_ALL).get_by_role("link").click()
    expect(page.get_by_role("main")).to_contain_text(
        t("Only an administrator can cancel these bookings. Tell one what you found here.")
    )
    expect(page.get_by_role("checkbox")).to_have_count(0)
    staff.checkpoint("cluster-manager")
    assert re.search(r"/admin/review/domain/[0-9a-f]{24}\?", page.url)
