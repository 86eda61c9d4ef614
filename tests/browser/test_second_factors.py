"""Second factors in Chromium: a manager whose role requires one adds a passkey (Chromium's
virtual authenticator, through Playwright's CDP session), signs out, and signs in again with
the password and the passkey; an authenticator app is set up from the page's key and used.

Passkeys belong to a domain, and an IP address is not one: the pages are opened at
http://localhost:<port>, which browsers count as a secure origin, and PUBLIC_BASE_URL says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import VIEWPORTS, LiveServer, StaffAccount
from tests.browser.test_booking_journey import assert_accessible

pytestmark = pytest.mark.slow


@pytest.fixture
def site(live_server: LiveServer) -> str:
    """The live server's address by the name localhost, with second factors required."""
    url = live_server.url.replace("127.0.0.1", "localhost")
    live_server.app.config["PUBLIC_BASE_URL"] = url
    live_server.app.config["STAFF_SECOND_FACTOR_ROLES"] = ("manager", "admin")
    return url


@pytest.fixture
def localhost_page(browser: Browser, site: str, live_server: LiveServer) -> Iterator[Page]:
    """A page on localhost that fails on a script error, a CSP refusal or a server error."""
    context: BrowserContext = browser.new_context(
        base_url=site, viewport=VIEWPORTS["desktop"], locale="en-US"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert not problems, problems
    assert not live_server.errors, live_server.errors


def _sign_in_with_password(page: Page, account: StaffAccount) -> None:
    page.goto("/staff/sign-in")
    page.get_by_label("Email address").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()


def test_a_manager_adds_a_passkey_and_signs_in_with_it(
    localhost_page: Page, staff_accounts: dict[str, StaffAccount]
) -> None:
    page = localhost_page
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    manager = staff_accounts["manager.seoul"]

    _sign_in_with_password(page, manager)
    expect(page).to_have_url(re.compile(r"/staff/security$"))
    expect(page.get_by_text("Your role requires a second factor.")).to_be_visible()
    assert_accessible(page)
    # Nothing else opens before a second factor is set up.
    page.goto("/staff/seoul")
    expect(page).to_have_url(re.compile(r"/staff/security$"))

    page.get_by_label("Name of the new passkey").fill("Desk 3 key")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("The passkey is added.")).to_be_visible()
    expect(page.get_by_role("cell", name="Desk 3 key")).to_be_visible()
    credentials = cdp.send(
        "WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]}
    )["credentials"]
    assert len(credentials) == 1
    page.goto("/staff/seoul")
    expect(page).to_have_url(re.compile(r"/staff/seoul"))
    _sign_out(page)

    _sign_in_with_password(page, manager)
    expect(page.get_by_role("heading", name="Second step of signing in")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(re.compile(r"/staff/seoul"))
    expect(page.get_by_role("link", name="Today's queue")).to_be_visible()
    used = cdp.send("WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]})
    assert used["credentials"][0]["signCount"] >= 2  # registration and sign-in each counted


def test_an_administrator_sets_up_an_authenticator_app_and_signs_in_with_its_code(
    localhost_page: Page, staff_accounts: dict[str, StaffAccount], live_server: LiveServer
) -> None:
    page = localhost_page
    admin = staff_accounts["admin"]
    _sign_in_with_password(page, admin)
    page.get_by_role("link", name="Set up an authenticator app").click()
    expect(page.locator(".qr-figure svg")).to_be_visible()
    assert_accessible(page)
    secret = page.locator(".secret-key").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the authenticator app").fill(totp.at(live_server.clock()))
    page.get_by_role("button", name="Finish setting up").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have written them down").click()
    expect(page.get_by_text("You have 10 unused recovery codes.")).to_be_visible()
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    _sign_out(page)

    live_server.clock.advance(seconds=30)  # the next code: each is accepted once
    _sign_in_with_password(page, admin)
    page.get_by_label("Code from the authenticator app").fill(totp.at(live_server.clock()))
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page).to_have_url(re.compile(r"/staff/"))
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    _sign_out(page)

    # A recovery code, once.
    _sign_in_with_password(page, admin)
    page.get_by_text("Lost your passkey or phone? Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Continue with a recovery code").click()
    expect(page.get_by_text("9 codes are left")).to_be_visible()
