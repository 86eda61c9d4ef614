"""Browser fixtures: the app served on a real port, Debian's Chromium driven by Playwright.

The browser tests run on SQLite only. They are about what the citizen sees and does; the data
layer under them is tested on SQLite and PostgreSQL elsewhere. Each test gets its own copy of
a database seeded with the demo data, its own clock (shared with the server, so a test can
move time on) and its own SMTP server, which receives the emails the app sends.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, got_request_exception
from flask_babel import force_locale, gettext
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)
from werkzeug.serving import BaseWSGIServer, make_server

from consular import PROJECT_ROOT, create_app
from consular.demo import seed
from consular.extensions import db
from consular.models import Base
from consular.services.mail import deliver_due, transport_from_config
from tests.conftest import DEFAULT_NOW, Clock, base_config
from tests.databases import missing_service
from tests.smtp import SMTPServer

SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS: dict[str, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 800},
    "waiting-room": {"width": 1920, "height": 1080},  # the display's screen
}
# The code is the six digits after the colon of "Your confirmation code is: 123456".
CODE_PATTERN = re.compile(r":\s*(\d{6})(?!\d)")


# The browser


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium (package `chromium`); browsers are never downloaded."""
    path = shutil.which("chromium")
    if path is None:
        missing_service(
            "Chromium is not installed (apt-get install chromium); the browser tests need it"
        )
    assert path is not None
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium_executable: str) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def viewport() -> str:
    """The screen the test runs on; tests parametrize it to run at phone width too."""
    return "desktop"


@pytest.fixture
def browser_locale() -> str:
    """The language the browser asks for (Accept-Language)."""
    return "en-US"


@pytest.fixture
def context(
    browser: Browser, live_server: LiveServer, viewport: str, browser_locale: str
) -> Iterator[BrowserContext]:
    """A fresh browser profile: no cookies, the chosen screen and language."""
    phone = viewport == "phone"
    context = browser.new_context(
        base_url=live_server.url,
        viewport=VIEWPORTS[viewport],
        is_mobile=phone,
        has_touch=phone,
        locale=browser_locale,
        timezone_id="Europe/London",  # not the office's: the pages must not depend on it
        accept_downloads=True,
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, live_server: LiveServer) -> Iterator[Page]:
    """A page that fails the test on a JavaScript error, on anything the Content Security
    Policy refused (an inline script or style slipped in), or on a server error."""
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    assert not script_errors, f"JavaScript errors: {script_errors}"
    assert not refused, f"Refused by the Content Security Policy: {refused}"
    assert not live_server.errors, f"Server errors: {live_server.errors}"


# Screenshots


@dataclass
class Screenshots:
    """Full-page screenshots of one test, numbered in order: <folder>/<nn>-<step>.png."""

    page: Page
    folder: Path
    count: int = 0

    def take(self, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def take_of(self, page: Page, step: str) -> Path:
        """A screenshot of another page of the test (a second window), numbered in the same row."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest, page: Page) -> Screenshots:
    """Where this test's screenshots go: artifacts/screenshots/<test>/ (emptied first)."""
    name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    folder = SCREENSHOTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Screenshots(page, folder)


# The server


@dataclass(frozen=True)
class StaffAccount:
    """A demo staff account, with the password the seed gave it."""

    email: str
    password: str
    role: str


@dataclass(frozen=True)
class DemoData:
    """The seeded database file and the staff accounts the seed created."""

    path: Path
    accounts: list[StaffAccount]


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    """An SQLite file with the schema and the demo data, made once; the accounts it holds."""
    folder = tmp_path_factory.mktemp("browser-db")
    path = folder / "demo.sqlite3"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    clock = Clock(DEFAULT_NOW)
    app = create_app(base_config(url, clock))
    app.instance_path = str(folder)  # the demo logins file goes here, not into instance/
    with app.app_context():
        accounts = seed(db.session, clock(), app.config["SLOT_HORIZON_DAYS"])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return DemoData(path, [StaffAccount(*account) for account in accounts])


@pytest.fixture(scope="session")
def demo_database(demo_data: DemoData) -> Path:
    """An SQLite file with the schema and the demo data, copied for each test."""
    return demo_data.path


@pytest.fixture(scope="session")
def staff_accounts(demo_data: DemoData) -> dict[str, StaffAccount]:
    """The demo staff accounts by the name before the @: admin, manager.seoul, clerk.seoul …"""
    return {account.email.partition("@")[0]: account for account in demo_data.accounts}


@dataclass
class LiveServer:
    """The app serving HTTP on 127.0.0.1, with the test's clock and SMTP server."""

    app: Flask
    url: str
    clock: Clock
    smtp: SMTPServer
    errors: list[str] = field(default_factory=list)

    def deliver_mail(self) -> int:
        """Send the due emails of the outbox to the SMTP server; return how many were sent."""
        with self.app.app_context():
            report = deliver_due(
                db.session,
                transport_from_config(self.app.config),
                self.clock(),
                self.app.config["MAIL_MAX_ATTEMPTS"],
            )
            db.session.remove()
        assert report.attempted == report.sent, report
        return report.sent

    def emails_to(self, recipient: str) -> list[EmailMessage]:
        """The emails the SMTP server has received for this address, oldest first."""
        return [r.message for r in self.smtp.received if recipient in r.rcpt_tos]

    def latest_code(self, recipient: str) -> str:
        """Deliver the outbox and read the newest confirmation code sent to this address."""
        self.deliver_mail()
        for message in reversed(self.emails_to(recipient)):
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = CODE_PATTERN.search(body.get_content())
            if found:
                return found.group(1)
        raise AssertionError(f"No confirmation code has been sent to {recipient}")

    def post_json(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST a JSON body over HTTP, as another client would; return the status and answer."""
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept-Language": "en"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.load(error)

    def fill_time(self, office: str, services: list[str], start: str, iins: Iterator[str]) -> int:
        """Hold every free seat at this start through the JSON API, each for another person."""
        for taken, iin in enumerate(iins):
            status, answer = self.post_json(
                "/api/v1/appointments",
                {
                    "office": office,
                    "services": services,
                    "start": start,
                    "language": "en",
                    "applicant": {
                        "given_name": "Other",
                        "family_name": "Person",
                        "iin": iin,
                        "passport_number": "N87654321",
                        "email": f"other.{iin}@example.com",
                        "phone": "010-9876-5432",
                    },
                    "details": {"current_passport": {"expiry_date": "2028-01-31"}},
                },
            )
            if status == 409 and answer.get("error") == "slot_unavailable":
                return taken
            assert status == 201, answer
            assert taken < 50, "the time never filled up"
        raise AssertionError("ran out of IINs")


@pytest.fixture
def live_server(
    tmp_path: Path, clock: Clock, smtp_server: SMTPServer, demo_database: Path
) -> Iterator[LiveServer]:
    """The app with real CSRF protection and the demo data, served in a thread."""
    path = tmp_path / "consular.sqlite3"
    with closing(sqlite3.connect(demo_database)) as source:
        with closing(sqlite3.connect(path)) as target:
            source.backup(target)
    config: dict[str, Any] = base_config(f"sqlite:///{path}", clock) | smtp_server.settings()
    config |= {
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "MAIL_DEV_MAILBOX": False,
    }
    app = create_app(config)
    app.instance_path = str(tmp_path)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    live = LiveServer(app, f"http://127.0.0.1:{server.server_port}", clock, smtp_server)

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        live.errors.append(repr(exception))

    got_request_exception.connect(record, app)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield live
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    got_request_exception.disconnect(record, app)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def texts(live_server: LiveServer) -> Callable[[str], Callable[..., str]]:
    """The page texts in a language, from the same catalogs the server uses."""

    def in_language(language: str) -> Callable[..., str]:
        def translate(message: str, **values: Any) -> str:
            with live_server.app.test_request_context(), force_locale(language):
                return gettext(message, **values)

        return translate

    return in_language
