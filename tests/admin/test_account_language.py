"""An account's own language on its pages, and the demo's `.localhost` addresses in debug mode."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import User
from consular.services.accounts import account_email
from tests.admin.test_accounts import _admin_client, _new_account_form
from tests.staff.conftest import sign_in


def _signed_in(app, user: User):
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def test_staff_pages_come_in_the_accounts_language(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    clerk.language = "ru"
    db.session.commit()
    client = _signed_in(app, clerk)
    page = client.get("/staff/seoul/day", headers={"Accept-Language": "en"})
    assert '<html lang="ru">' in page.text
    admin = accounts["admin"]
    admin.language = "ko"
    db.session.commit()
    admin_page = _signed_in(app, admin).get("/admin/", headers={"Accept-Language": "en"})
    assert '<html lang="ko">' in admin_page.text


def test_a_language_switched_in_the_session_wins_over_the_accounts(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    clerk.language = "ru"
    db.session.commit()
    client = _signed_in(app, clerk)
    client.post("/language", data={"language": "kk"})
    assert '<html lang="kk">' in client.get("/staff/seoul/day").text
    # The account's own choice stays as it was.
    db.session.expire_all()
    assert db.session.get(User, clerk.id).language == "ru"


def test_citizens_keep_their_browsers_language(client, accounts) -> None:
    page = client.get("/", headers={"Accept-Language": "ko"})
    assert '<html lang="ko">' in page.text


@pytest.mark.parametrize(
    ("address", "debug", "accepted"),
    [
        ("dana@demo.consular.localhost", True, "dana@demo.consular.localhost"),
        ("Dana@Consular.LOCALHOST", True, "Dana@consular.localhost"),
        ("dana@demo.consular.localhost", False, None),
        ("dana@localhost", True, None),  # a subdomain is needed, as the demo's have
        ("da na@demo.consular.localhost", True, None),
        ("dana@example.org", False, "dana@example.org"),
    ],
)
def test_localhost_addresses_only_in_debug_mode(address, debug, accepted) -> None:
    assert account_email(address, allow_localhost=debug) == accepted


@pytest.mark.parametrize("debug", [True, False])
def test_the_account_form_takes_a_demo_address_in_debug_mode(app, offices, accounts, debug):
    app.config["DEBUG_MODE"] = debug
    client = _admin_client(app, accounts)
    response = client.post(
        "/admin/accounts/new",
        data=_new_account_form(offices, email="dana.clerk@demo.consular.localhost"),
    )
    created = db.session.scalar(
        sa.select(User).where(User.email == "dana.clerk@demo.consular.localhost")
    )
    if debug:
        assert response.status_code == 302 and created is not None
    else:
        assert response.status_code == 422 and created is None
        assert "Enter an email address like name@example.org." in response.text
