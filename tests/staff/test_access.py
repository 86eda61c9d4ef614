"""Who may open which staff page: every URL against every kind of visitor, and sessions
that end on the server."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import flask_babel
import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, Desk, Ticket
from tests.staff.conftest import PASSWORD, sign_in

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)

# (method, url template) of every staff page; {office} is filled with seoul.
STAFF_URLS = [
    ("GET", "/staff/{office}"),
    ("GET", "/staff/{office}/day.csv"),
    ("GET", "/staff/{office}/print"),
    ("GET", "/staff/{office}/appointments/SEL-ABCDEF"),
    ("POST", "/staff/{office}/desk"),
    ("POST", "/staff/{office}/check-in"),
    ("POST", "/staff/{office}/walk-in"),
    ("POST", "/staff/{office}/call-next"),
    ("POST", "/staff/{office}/tickets/{ticket}/serve"),
    ("POST", "/staff/{office}/tickets/{ticket}/recall"),
    ("POST", "/staff/{office}/tickets/{ticket}/park"),
    ("POST", "/staff/{office}/tickets/{ticket}/resume"),
    ("POST", "/staff/{office}/tickets/{ticket}/transfer"),
    ("POST", "/staff/{office}/appointments/SEL-ABCDEF/no-show"),
    ("GET", "/staff/{office}/schedule"),
    ("GET", "/staff/{office}/week"),
    ("POST", "/staff/{office}/schedule/periods"),
    ("POST", "/staff/{office}/schedule/closures"),
    ("POST", "/staff/{office}/schedule/booking"),
    ("POST", "/staff/{office}/slots/1/block"),
]

MANAGER_ONLY = {"schedule", "week", "slots"}

# What each visitor gets for a page of Seoul: a redirect to sign in, 404 for another
# office's staff, and the page (or its own answer) for Seoul's staff and admins.
EXPECTED = {
    "anonymous": {302},
    "clerk_busan": {404},
    "clerk_seoul": {200, 302, 404},
    "manager_seoul": {200, 302, 404},
    "admin": {200, 302, 404},
}


@pytest.fixture
def seoul_ticket(offices, accounts, clock) -> Ticket:
    from consular.services import queue

    seoul, _ = offices
    clock.set(MONDAY_9)
    ticket = queue.issue_walk_in(
        db.session, seoul, seoul.services[0], accounts["clerk_seoul"], clock(), urgent=True
    )
    db.session.commit()
    return ticket


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize(("method", "url"), STAFF_URLS)
def test_access_matrix(app, accounts, seoul_ticket, who, method, url) -> None:
    client = app.test_client()
    if who != "anonymous":
        assert sign_in(client, accounts[who].email).status_code == 302
    target = url.format(office="seoul", ticket=seoul_ticket.id)
    response = client.open(target, method=method, data={})
    expected = EXPECTED[who]
    if who == "clerk_seoul" and any(f"/{part}" in target for part in MANAGER_ONLY):
        expected = {403}
    assert response.status_code in expected, (who, method, target, response.status_code)
    if who == "anonymous":
        assert "/staff/sign-in" in response.headers["Location"]
    if who == "clerk_busan":
        db.session.refresh(seoul_ticket)
        assert seoul_ticket.status == "waiting"  # nothing changed


def test_a_busan_clerk_cannot_reach_seoul_by_any_id(app, offices, accounts, seoul_ticket):
    seoul, busan = offices
    client = app.test_client()
    sign_in(client, accounts["clerk_busan"].email)
    seoul_desk = db.session.scalar(sa.select(Desk).where(Desk.office_id == seoul.id))
    # Seoul's ticket through Busan's URL, and Seoul's desk chosen at Busan.
    assert client.post(f"/staff/busan/tickets/{seoul_ticket.id}/serve").status_code == 404
    client.post("/staff/busan/desk", data={"desk": seoul_desk.id})
    response = client.post("/staff/busan/call-next", follow_redirects=True)
    assert "Choose your desk first" in response.text
    db.session.refresh(seoul_ticket)
    assert seoul_ticket.status == "waiting"


def test_the_display_is_public_and_shows_no_names(app, offices, seoul_ticket) -> None:
    client = app.test_client()
    page = client.get("/staff/seoul/display")
    assert page.status_code == 200
    feed = client.get("/staff/seoul/display.json").get_json()
    assert set(feed) == {
        "calls",
        "history",
        "spoken",
        "time",
        "now_ms",
        "utc_offset_minutes",
        "waiting",
        "estimated_wait_minutes",
        "waiting_text",
        "wait_text",
    }
    assert feed["waiting"] == 1 and feed["waiting_text"] == "1 person waiting"


def test_wrong_password_and_unknown_account_get_the_same_answer(app, accounts) -> None:
    client = app.test_client()
    wrong = sign_in(client, accounts["clerk_seoul"].email, "wrong password!")
    unknown = sign_in(client, "nobody@example.org")
    assert wrong.status_code == unknown.status_code == 422
    assert "email address or the password is wrong" in wrong.text
    assert "email address or the password is wrong" in unknown.text


def test_a_deactivated_account_cannot_sign_in_and_its_sessions_end(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)
    assert client.get("/staff/seoul").status_code == 200
    accounts["clerk_seoul"].active = False
    db.session.commit()
    assert client.get("/staff/seoul").status_code == 302
    assert sign_in(app.test_client(), accounts["clerk_seoul"].email).status_code == 422


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_copied_cookie_stops_working_after_sign_out(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)
    copied = _session_cookie(client)
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/staff/seoul").status_code == 200
    client.post("/staff/sign-out")
    thief.set_cookie("session", copied)
    assert thief.get("/staff/seoul").status_code == 302


def test_a_copied_cookie_stops_working_after_a_password_change(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)
    copied = _session_cookie(client)
    response = client.post(
        "/staff/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "repeat_password": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert client.get("/staff/seoul").status_code == 200  # this session goes on
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/staff/seoul").status_code == 302
    assert sign_in(app.test_client(), accounts["clerk_seoul"].email).status_code == 422
    assert (
        sign_in(
            app.test_client(), accounts["clerk_seoul"].email, "a brand new passphrase"
        ).status_code
        == 302
    )
    assert db.session.scalar(sa.select(AuditEntry.action)) == "change_password"


def test_password_rules(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)
    response = client.post(
        "/staff/password",
        data={"current_password": "nope", "new_password": "short", "repeat_password": "other"},
    )
    assert response.status_code == 422
    assert "current password is wrong" in response.text
    assert "at least 12 characters" in response.text
    assert "not the same" in response.text


def test_the_password_page_states_the_rules_before_the_form(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)
    page = client.get("/staff/password").text
    rules = page.index('id="password-rules"')
    assert rules < page.index('name="current_password"')
    for text in (
        "At least 12 characters and at most 128",
        "Not a common password",
        "Not built on your name, your email address or words about the consulate",
    ):
        assert page.index(text) > rules


def _change(client, new: str, current: str = PASSWORD):
    return client.post(
        "/staff/password",
        data={"current_password": current, "new_password": new, "repeat_password": new},
    )


@pytest.mark.parametrize(
    ("new", "messages"),
    [
        ("password1234", ["This is one of the most common passwords"]),
        ("Qwerty123456!", ["This is one of the most common passwords"]),
        ("clerk.seoul@example.org", ["This password is built on your name"]),
        ("Seoul2026!!!", ["This password is built on your name"]),
        ("C1erk-B4s4n-2026", ["This password is built on your name"]),
        (
            "aaaaaaaaaaaaaaaa",
            ["This password would be easy to guess.", "Repeats like &#34;aaa&#34; are easy"],
        ),
    ],
)
def test_a_refused_password_is_explained_by_the_field_and_changes_nothing(
    app, accounts, new, messages
) -> None:
    clerk = accounts["clerk_seoul"]
    client = app.test_client()
    sign_in(client, clerk.email)
    before = clerk.password_hash
    response = _change(client, new)
    assert response.status_code == 422
    page = response.text
    error = page.index('<div class="error-message" id="new_password-error">')
    for message in messages:
        assert page.index(message, error) < page.index('id="new_password"', error)
    (field,) = re.findall(r"<input [^>]*id=\"new_password\"[^>]*>", page)
    assert 'aria-invalid="true"' in field and "new_password-error" in field
    assert page.count('id="new_password-error"') == 1
    assert new not in response.text  # password fields never echo what was typed
    db.session.refresh(clerk)
    assert clerk.password_hash == before and not clerk.must_change_password
    assert db.session.scalar(sa.select(AuditEntry.action)) is None
    assert sign_in(app.test_client(), clerk.email).status_code == 302
    assert sign_in(app.test_client(), clerk.email, new).status_code == 422


def test_a_long_unicode_passphrase_is_accepted_whole(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    client = app.test_client()
    sign_in(client, clerk.email)
    new = "Жёлтый 🐫 верблюд идёт сквозь 밤하늘의 별빛 under a violet moon " * 2
    assert 64 < len(new) <= 128
    assert _change(client, new).status_code == 302
    assert sign_in(app.test_client(), clerk.email, new).status_code == 302
    assert sign_in(app.test_client(), clerk.email, new[:72]).status_code == 422  # not cut


def test_the_policy_messages_come_in_the_accounts_language(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    clerk.language = "ru"
    db.session.commit()
    client = app.test_client()
    sign_in(client, clerk.email)
    response = _change(client, "short")
    assert response.status_code == 422
    assert "Пароль должен содержать не менее 12" in response.text


def test_zxcvbns_feedback_reaches_the_page_through_gettext(app, accounts, monkeypatch) -> None:
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)

    class Marked:
        """A catalog that marks each message it translates."""

        def ugettext(self, message: str) -> str:
            return "«" + message + "»"

        def ungettext(self, singular: str, plural: str, count: int) -> str:
            return "«" + (singular if count == 1 else plural) + "»"

    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: Marked())
    response = _change(client, "=-0987654321")
    assert response.status_code == 422
    assert "«This password would be easy to guess.»" in response.text
    assert "«Straight rows of keys are easy to guess.»" in response.text
    assert "«Add another word or two. Uncommon words are better.»" in response.text


def test_cookies_are_httponly_and_samesite(app, accounts) -> None:
    client = app.test_client()
    response = sign_in(client, accounts["clerk_seoul"].email)
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_sign_in_redirects_only_to_local_pages(app, accounts) -> None:
    client = app.test_client()
    response = client.post(
        "/staff/sign-in?next=https://evil.example/",
        data={"email": accounts["clerk_seoul"].email, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/staff/"


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0A/x", "/%5Cevil.example"])
def test_sign_in_never_follows_a_next_that_browsers_would_read_as_another_site(
    app, accounts, target
) -> None:
    client = app.test_client()
    response = client.post(
        f"/staff/sign-in?next={target}",
        data={"email": accounts["clerk_seoul"].email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
