"""The account pages: who may open them, creating accounts with a temporary password shown
once, changing and deactivating accounts (their sessions end at once), password resets and
the protections of the last administrator."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry, Role, User
from tests.admin.conftest import PASSWORD, sign_in

# (method, url) of every account page; {id} is the Seoul clerk's account.
ACCOUNT_URLS = [
    ("GET", "/admin/accounts"),
    ("GET", "/admin/accounts/new"),
    ("POST", "/admin/accounts/new"),
    ("GET", "/admin/accounts/{id}"),
    ("POST", "/admin/accounts/{id}"),
    ("POST", "/admin/accounts/{id}/deactivate"),
    ("POST", "/admin/accounts/{id}/reactivate"),
    ("POST", "/admin/accounts/{id}/reset-password"),
    ("GET", "/admin/accounts/{id}/password"),
]

EXPECTED = {
    "anonymous": {302},
    "clerk_seoul": {403},
    "manager_seoul": {403},
    "admin": {200, 302, 422},
}


def _admin_client(app, accounts):
    client = app.test_client()
    assert sign_in(client, accounts["admin"].email).status_code == 302
    return client


def _new_account_form(places, **overrides):
    seoul, _busan = places
    data = {
        "email": "Dana.Clerk@Example.org",
        "name": "Dana Clerk",
        "role": "clerk",
        "offices": [str(seoul.id)],
        "language": "kk",
    }
    data.update(overrides)
    return data


def _edit_form(user: User, **overrides):
    data = {
        "name": user.name,
        "role": str(user.role),
        "offices": [str(o.id) for o in user.offices],
        "language": user.language,
        "active": "y" if user.active else "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


def _temporary_password(page_text: str) -> str:
    match = re.search(r'<p class="temporary-password"><code>([^<]+)</code>', page_text)
    assert match, page_text
    return match.group(1)


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


# Who may open the pages


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize(("method", "url"), ACCOUNT_URLS)
def test_access_matrix(app, accounts, who, method, url) -> None:
    client = app.test_client()
    if who != "anonymous":
        assert sign_in(client, accounts[who].email).status_code == 302
    target = url.format(id=accounts["clerk_seoul"].id)
    response = client.open(target, method=method, data={})
    assert response.status_code in EXPECTED[who], (who, method, target, response.status_code)
    if who == "anonymous":
        assert "/staff/sign-in" in response.headers["Location"]
    if who != "admin":
        db.session.refresh(accounts["clerk_seoul"])
        assert accounts["clerk_seoul"].active  # nothing changed
        assert _actions() == []


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/admin/accounts/999999"),
        ("POST", "/admin/accounts/999999"),
        ("POST", "/admin/accounts/999999/deactivate"),
        ("POST", "/admin/accounts/999999/reactivate"),
        ("POST", "/admin/accounts/999999/reset-password"),
        ("GET", "/admin/accounts/999999/password"),
        ("GET", "/admin/accounts/99999999999999999999999"),
        ("POST", "/admin/accounts/99999999999999999999999/deactivate"),
        ("GET", "/admin/accounts/-1"),
        ("GET", "/admin/accounts/abc"),
    ],
)
def test_unknown_accounts_answer_404(app, accounts, method, url) -> None:
    client = _admin_client(app, accounts)
    assert client.open(url, method=method, data={}).status_code == 404


def test_the_administration_links_to_the_accounts(app, accounts) -> None:
    client = _admin_client(app, accounts)
    page = client.get("/admin/")
    assert 'href="/admin/accounts"' in page.text


# Creating an account


def test_a_new_account_gets_a_temporary_password_shown_once(app, offices, accounts) -> None:
    client = _admin_client(app, accounts)
    response = client.post("/admin/accounts/new", data=_new_account_form(offices))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "dana.clerk@example.org"))
    assert user is not None
    assert response.headers["Location"] == f"/admin/accounts/{user.id}/password"
    assert user.role == Role.CLERK and [o.code for o in user.offices] == ["seoul"]
    assert user.language == "kk" and user.must_change_password

    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    password = _temporary_password(page.text)
    assert "Hand it over safely" in page.text
    # Once only: the next visit no longer shows it, and it is in no URL or audit entry.
    again = client.get(response.headers["Location"])
    assert password not in again.text and "no longer available" in again.text
    assert password not in response.headers["Location"]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "create_account"))
    assert password not in str(entry.after) and "password" not in str(entry.after)

    # The password works once, and the person must choose their own at once.
    newcomer = app.test_client()
    signed_in = sign_in(newcomer, "Dana.Clerk@example.org", password)
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/staff/password"
    assert newcomer.get("/admin/accounts").status_code in (302, 403)
    changed = newcomer.post(
        "/staff/password",
        data={
            "current_password": password,
            "new_password": "my own long passphrase",
            "repeat_password": "my own long passphrase",
        },
    )
    assert changed.status_code == 302
    db.session.refresh(user)
    assert not user.must_change_password
    assert newcomer.get("/staff/seoul").status_code == 200


def test_the_new_account_form_shows_every_choice(app, offices, accounts) -> None:
    client = _admin_client(app, accounts)
    page = client.get("/admin/accounts/new")
    assert page.status_code == 200
    for text in ('name="role" value="clerk"', 'name="offices"', "Office seoul", "Office busan"):
        assert text in page.text
    assert "<legend>Role</legend>" in page.text and "<legend>Offices</legend>" in page.text
    assert 'name="language"' in page.text


def test_a_duplicate_email_is_refused_next_to_the_field(app, offices, accounts) -> None:
    client = _admin_client(app, accounts)
    response = client.post(
        "/admin/accounts/new",
        data=_new_account_form(offices, email="CLERK.SEOUL@example.org", name="Someone Else"),
    )
    assert response.status_code == 422
    assert "An account with this email address exists already." in response.text
    assert 'value="Someone Else"' in response.text  # the values are kept
    assert 'value="CLERK.SEOUL@example.org"' in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == len(accounts)
    assert _actions() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "not-an-email"}, "Enter an email address like name@example.org."),
        ({"email": ""}, "Enter an email address."),
        ({"name": ""}, "Enter the person's name."),
        ({"name": "x" * 201}, "Use at most 200 characters."),
        ({"role": ""}, "Choose a role."),
        ({"role": "root"}, "Choose a role."),
        ({"offices": []}, "Clerks and managers need at least one office."),
        ({"offices": ["abc"]}, "Choose offices from the list."),
        ({"offices": ["99999999999999999999"]}, "Choose offices from the list."),
        ({"language": "de"}, "Choose a language."),
    ],
)
def test_new_account_errors_are_kept_with_the_values(
    app, offices, accounts, overrides, message
) -> None:
    client = _admin_client(app, accounts)
    response = client.post("/admin/accounts/new", data=_new_account_form(offices, **overrides))
    assert response.status_code == 422
    assert message in response.text
    assert "There is a problem" in response.text
    if "name" not in overrides:
        assert 'value="Dana Clerk"' in response.text
    if "role" not in overrides:
        assert re.search(r'value="clerk" checked', response.text)
    assert _actions() == []


def test_an_administrator_can_be_created_without_offices(app, offices, accounts) -> None:
    client = _admin_client(app, accounts)
    response = client.post(
        "/admin/accounts/new",
        data=_new_account_form(offices, email="boss@example.org", role="admin", offices=[]),
    )
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "boss@example.org"))
    assert user.is_admin


# The list


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("", ["Clerk Seoul", "Clerk Busan", "Manager Seoul", "admin@example.org"], []),
        ("?role=clerk", ["Clerk Seoul", "Clerk Busan"], ["Manager Seoul", "admin@example.org"]),
        ("?office={busan}", ["Clerk Busan"], ["Clerk Seoul", "Manager Seoul"]),
        ("?status=inactive", ["Clerk Busan"], ["Clerk Seoul", "Manager Seoul"]),
        ("?status=active&role=clerk", ["Clerk Seoul"], ["Clerk Busan"]),
        ("?q=manager", ["Manager Seoul"], ["Clerk Seoul", "Clerk Busan"]),
        ("?q=nobody-at-all", ["No account matches"], ["Clerk Seoul"]),
    ],
)
def test_the_list_filters_and_searches(app, offices, accounts, query, shown, hidden) -> None:
    accounts["clerk_busan"].active = False
    db.session.commit()
    client = _admin_client(app, accounts)
    page = client.get("/admin/accounts" + query.format(busan=offices[1].id))
    assert page.status_code == 200
    for text in shown:
        assert text in page.text
    for text in hidden:
        assert text not in page.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?role=root", "Choose a role from the list."),
        ("?office=abc", "Choose an office from the list."),
        ("?office=99999999999999999999999", "Choose an office from the list."),
        ("?status=maybe", "Choose a status from the list."),
        ("?q=" + "x" * 300, "Use at most 200 characters."),
    ],
)
def test_bad_list_filters_answer_400_next_to_the_field(app, accounts, query, message) -> None:
    client = _admin_client(app, accounts)
    page = client.get("/admin/accounts" + query)
    assert page.status_code == 400
    assert message in page.text


@pytest.mark.parametrize("text", ["%", "_", "\\", "'; drop table user_account; --", "한국"])
def test_any_search_text_is_safe(app, accounts, text) -> None:
    client = _admin_client(app, accounts)
    assert client.get("/admin/accounts", query_string={"q": text}).status_code == 200


# Changing an account


def test_the_edit_page_shows_the_account(app, offices, accounts) -> None:
    client = _admin_client(app, accounts)
    clerk = accounts["clerk_seoul"]
    page = client.get(f"/admin/accounts/{clerk.id}")
    assert page.status_code == 200
    assert clerk.email in page.text
    assert f'name="offices" value="{offices[0].id}" checked' in page.text
    assert 'value="clerk" checked' in page.text
    assert f'action="/admin/accounts/{clerk.id}/deactivate"' in page.text
    assert f'action="/admin/accounts/{clerk.id}/reset-password"' in page.text


def test_role_offices_and_language_are_saved_and_audited(app, offices, accounts) -> None:
    seoul, busan = offices
    client = _admin_client(app, accounts)
    clerk = accounts["clerk_seoul"]
    response = client.post(
        f"/admin/accounts/{clerk.id}",
        data=_edit_form(
            clerk, role="manager", offices=[str(seoul.id), str(busan.id)], language="ko"
        ),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/accounts/{clerk.id}"
    db.session.refresh(clerk)
    assert clerk.role == Role.MANAGER and clerk.language == "ko"
    assert [o.code for o in clerk.offices] == ["seoul", "busan"]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "update_account"))
    assert entry.user_id == accounts["admin"].id
    assert entry.before == {"role": "clerk", "offices": ["seoul"], "language": "en"}
    assert entry.after == {"role": "manager", "offices": ["seoul", "busan"], "language": "ko"}
    assert "is saved" in client.get(response.headers["Location"]).text


def test_edit_errors_are_kept_with_the_values(app, offices, accounts) -> None:
    client = _admin_client(app, accounts)
    clerk = accounts["clerk_seoul"]
    response = client.post(
        f"/admin/accounts/{clerk.id}", data=_edit_form(clerk, name="Renamed", offices=[])
    )
    assert response.status_code == 422
    assert "Clerks and managers need at least one office." in response.text
    assert 'value="Renamed"' in response.text
    db.session.refresh(clerk)
    assert clerk.name == "Clerk Seoul"
    assert _actions() == []


# Deactivation: the sessions end at once


def test_deactivation_ends_a_session_at_once(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    victim = app.test_client()
    sign_in(victim, clerk.email)
    copied = _session_cookie(victim)
    assert victim.get("/staff/seoul").status_code == 200

    admin = _admin_client(app, accounts)
    response = admin.post(f"/admin/accounts/{clerk.id}/deactivate")
    assert response.status_code == 302
    assert "signed out everywhere" in admin.get(response.headers["Location"]).text

    assert victim.get("/staff/seoul").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/staff/seoul").status_code == 302
    assert sign_in(app.test_client(), clerk.email).status_code == 422
    assert _actions() == ["deactivate_account"]


def test_unticking_active_on_the_edit_page_also_ends_sessions(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    victim = app.test_client()
    sign_in(victim, clerk.email)
    admin = _admin_client(app, accounts)
    response = admin.post(f"/admin/accounts/{clerk.id}", data=_edit_form(clerk, active=""))
    assert response.status_code == 302
    assert victim.get("/staff/seoul").status_code == 302
    assert sign_in(app.test_client(), clerk.email).status_code == 422


def test_a_reactivated_account_signs_in_again(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    admin = _admin_client(app, accounts)
    admin.post(f"/admin/accounts/{clerk.id}/deactivate")
    response = admin.post(f"/admin/accounts/{clerk.id}/reactivate")
    assert response.status_code == 302
    assert sign_in(app.test_client(), clerk.email).status_code == 302
    assert _actions() == ["deactivate_account", "reactivate_account"]


# Password resets


def test_a_reset_ends_sessions_and_forces_a_change(app, accounts) -> None:
    clerk = accounts["clerk_seoul"]
    victim = app.test_client()
    sign_in(victim, clerk.email)
    copied = _session_cookie(victim)

    admin = _admin_client(app, accounts)
    response = admin.post(f"/admin/accounts/{clerk.id}/reset-password")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/accounts/{clerk.id}/password"
    password = _temporary_password(admin.get(response.headers["Location"]).text)

    assert victim.get("/staff/seoul").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/staff/seoul").status_code == 302
    assert sign_in(app.test_client(), clerk.email, PASSWORD).status_code == 422
    fresh = app.test_client()
    signed_in = sign_in(fresh, clerk.email, password)
    assert signed_in.headers["Location"] == "/staff/password"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "reset_password"))
    assert entry.after == {"must_change_password": True}
    assert password not in str(entry.before) + str(entry.after)


def test_one_accounts_password_is_not_shown_on_anothers_page(app, accounts) -> None:
    admin = _admin_client(app, accounts)
    admin.post(f"/admin/accounts/{accounts['clerk_seoul'].id}/reset-password")
    page = admin.get(f"/admin/accounts/{accounts['clerk_busan'].id}/password")
    assert page.status_code == 200
    assert "temporary-password" not in page.text


# The last administrator


def test_an_administrator_cannot_deactivate_themselves(app, accounts) -> None:
    admin = _admin_client(app, accounts)
    me = accounts["admin"]
    response = admin.post(f"/admin/accounts/{me.id}/deactivate", follow_redirects=True)
    assert response.status_code == 200
    assert "You cannot deactivate your own account." in response.text
    db.session.refresh(me)
    assert me.active
    assert admin.get("/admin/accounts").status_code == 200  # still signed in


def test_an_administrator_cannot_demote_or_deactivate_themselves_on_the_edit_page(
    app, offices, accounts
) -> None:
    admin = _admin_client(app, accounts)
    me = accounts["admin"]
    demoted = admin.post(
        f"/admin/accounts/{me.id}",
        data=_edit_form(me, role="manager", offices=[str(offices[0].id)]),
    )
    assert demoted.status_code == 422
    assert "You cannot take away your own administrator access." in demoted.text
    switched_off = admin.post(f"/admin/accounts/{me.id}", data=_edit_form(me, active=""))
    assert switched_off.status_code == 422
    db.session.refresh(me)
    assert me.is_admin and me.active
    assert _actions() == []


def test_another_administrator_can_be_demoted_but_not_the_last(app, offices, accounts) -> None:
    client = _admin_client(app, accounts)
    client.post(
        "/admin/accounts/new",
        data=_new_account_form(offices, email="second@example.org", role="admin", offices=[]),
    )
    second = db.session.scalar(sa.select(User).where(User.email == "second@example.org"))
    response = client.post(
        f"/admin/accounts/{second.id}",
        data=_edit_form(second, role="manager", offices=[str(offices[0].id)]),
    )
    assert response.status_code == 302
    db.session.refresh(second)
    assert second.role == Role.MANAGER


def test_an_administrator_cannot_reset_their_own_password_here(app, accounts) -> None:
    admin = _admin_client(app, accounts)
    me = accounts["admin"]
    response = admin.post(f"/admin/accounts/{me.id}/reset-password", follow_redirects=True)
    assert "Change your own password on the password page." in response.text
    db.session.refresh(me)
    assert not me.must_change_password


def _session_of(client) -> dict:
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(client.application)
    return serializer.loads(client.get_cookie("session").value)


def test_the_temporary_password_is_never_in_the_cookie_and_a_replay_shows_nothing(
    app, accounts
) -> None:
    """Issue 13, finding 9: a server-side one-time record, not the session cookie."""
    from consular.models import PasswordHandover

    admin = _admin_client(app, accounts)
    clerk = accounts["clerk_seoul"]
    admin.post(f"/admin/accounts/{clerk.id}/reset-password")
    cookie = admin.get_cookie("session").value
    waiting = _session_of(admin)["admin_temporary_password"]
    assert set(waiting) == {"user_id", "handover", "pad"}
    stored = db.session.get(PasswordHandover, waiting["handover"])
    assert stored is not None and stored.account_id == clerk.id
    sealed = stored.sealed

    page = admin.get(f"/admin/accounts/{clerk.id}/password")
    password = _temporary_password(page.text)
    assert password not in str(waiting) and password not in sealed
    assert len(password) * 2 == len(waiting["pad"]) == len(sealed)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordHandover)) == 0

    # The session cookie from before the page, sent again, finds nothing to show.
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    again = replay.get(f"/admin/accounts/{clerk.id}/password")
    assert again.status_code == 200 and password not in again.text
    assert "temporary-password" not in again.text


def test_a_handover_left_unseen_expires(app, accounts, clock) -> None:
    from consular.models import PasswordHandover

    admin = _admin_client(app, accounts)
    clerk = accounts["clerk_seoul"]
    admin.post(f"/admin/accounts/{clerk.id}/reset-password")
    clock.advance(minutes=11)
    page = admin.get(f"/admin/accounts/{clerk.id}/password")
    assert "temporary-password" not in page.text
    # The next handover deletes what nobody came to see.
    admin.post(f"/admin/accounts/{accounts['clerk_busan'].id}/reset-password")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordHandover)) == 1
