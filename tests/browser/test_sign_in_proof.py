"""The sign-in's proof of work in a real browser: after many wrong passwords for an account
from elsewhere, the form shows the ALTCHA widget, which solves by itself under the strict
Content Security Policy (the `page` fixture fails on anything it refuses), and the real user
signs in with it, at the production difficulty."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from consular.extensions import db
from consular.models import SignInFailure
from tests.browser.conftest import LiveServer, StaffAccount
from tests.conftest import Clock

pytestmark = pytest.mark.slow

CHECKBOX = "altcha-widget input[type=checkbox]"


def test_the_real_user_signs_in_with_the_proof_of_work_the_form_asks_for(
    page: Page, live_server: LiveServer, staff_accounts: dict[str, StaffAccount], clock: Clock
) -> None:
    clerk = staff_accounts["clerk.seoul"]
    with live_server.app.app_context():  # an attacker's five wrong passwords, from elsewhere
        db.session.add_all(
            SignInFailure(
                email=clerk.email,
                address=f"198.51.100.{n}",
                failures=1,
                last_failed_at=clock(),
                blocked_until=clock(),
            )
            for n in range(5)
        )
        db.session.commit()
        db.session.remove()

    page.goto("/staff/sign-in")
    expect(page.locator("altcha-widget")).to_have_count(0)  # not asked before the e-mail
    page.get_by_label("Email address").fill(clerk.email)
    page.get_by_label("Password").fill(clerk.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "your browser must first finish a short check"
    )

    expect(page.locator(CHECKBOX)).to_be_checked(timeout=90_000)  # solved by itself
    expect(page.locator("[data-proof-of-work-status]")).to_have_text("Checked: you can sign in.")
    expect(page.get_by_label("Email address")).to_have_value(clerk.email)  # kept
    page.get_by_label("Password").fill(clerk.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Staff")).to_be_visible()
