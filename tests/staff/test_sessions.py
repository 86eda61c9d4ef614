"""Staff sessions end after a while without use and at the latest some hours after signing
in, enforced by the server (issue 13, finding 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from consular import create_app
from consular.config import ConfigError
from tests.staff.conftest import sign_in


@pytest.fixture
def limits(app):
    app.config.update(STAFF_IDLE_MINUTES=30, STAFF_SESSION_HOURS=12)


def _signed_in(app, accounts):
    client = app.test_client()
    assert sign_in(client, accounts["clerk_seoul"].email).status_code == 302
    return client


def test_a_session_unused_for_the_idle_time_ends_and_the_sign_in_page_says_why(
    app, accounts, limits, clock
) -> None:
    client = _signed_in(app, accounts)
    for _step in range(4):  # two hours of work, a request every 29 minutes
        clock.advance(minutes=29)
        assert client.get("/staff/seoul").status_code == 200
    copied = client.get_cookie("session").value
    clock.advance(minutes=31)
    ended = client.get("/staff/seoul")
    assert ended.status_code == 302
    assert ended.headers["Location"].startswith("/staff/sign-in?next=/staff/seoul")
    page = client.get(ended.headers["Location"]).text
    assert "You were signed out after 30\u00a0minutes without activity." in page
    # A copy of the cookie from before is as stale as the original.
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/staff/seoul").status_code == 302


def test_a_session_ends_after_its_hours_however_busy(app, accounts, limits, clock) -> None:
    client = _signed_in(app, accounts)
    for _step in range(36):  # twelve hours, a request every 20 minutes
        clock.advance(minutes=20)
        assert client.get("/staff/seoul").status_code == 200
    clock.advance(minutes=1)
    ended = client.get("/staff/seoul")
    assert ended.status_code == 302
    page = client.get(ended.headers["Location"]).text
    assert "You were signed out: a staff session lasts at most 12\u00a0hours." in page


def test_the_pages_own_refresh_does_not_keep_a_session_alive(app, accounts, limits, clock) -> None:
    client = _signed_in(app, accounts)
    refresh = {"X-Queue-Refresh": "1"}
    clock.advance(minutes=20)
    assert client.get("/staff/seoul", headers=refresh).status_code == 200
    clock.advance(minutes=15)  # 35 minutes since the clerk last did something
    ended = client.get("/staff/seoul", headers=refresh)
    assert ended.status_code == 401
    assert ended.headers["X-Sign-In"] == "/staff/sign-in?next=/staff/seoul"
    assert client.get("/staff/seoul").status_code == 302


def test_a_form_sent_after_the_end_changes_nothing(app, accounts, offices, limits, clock) -> None:
    seoul, _busan = offices
    client = _signed_in(app, accounts)
    clock.advance(minutes=31)
    sent = client.post("/staff/seoul/walk-in", data={"service": seoul.services[0].id})
    assert sent.status_code == 302 and "/staff/sign-in" in sent.headers["Location"]
    from consular.extensions import db
    from consular.models import Ticket

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_the_staff_cookie_expires_with_the_longest_session(app, accounts, limits) -> None:
    client = app.test_client()
    response = sign_in(client, accounts["clerk_seoul"].email)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Expires=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_names_the_cookie_for_its_host_only(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.delenv("CONSULAR_DEBUG", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("MAIL_SMTP_HOST", "smtp.example.org")
    app = create_app()
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    assert not app.config.get("SESSION_COOKIE_DOMAIN")


@pytest.mark.parametrize(
    ("name", "value"), [("STAFF_IDLE_MINUTES", "0"), ("STAFF_SESSION_HOURS", "100")]
)
def test_production_refuses_a_session_that_never_ends(monkeypatch, tmp_path, name, value) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.delenv("CONSULAR_DEBUG", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        create_app()
