"""Second factors of staff accounts: required for managers and administrators, set up on the
security page, asked for after the password; each code accepted once (issue 13, finding 4)."""

from __future__ import annotations

import re
import threading

import pyotp
import pytest
import sqlalchemy as sa

from consular import create_app
from consular.extensions import db
from consular.models import (
    AuditEntry,
    AuthenticatorApp,
    OutboxMessage,
    Passkey,
    RecoveryCode,
    User,
)
from consular.services import second_factors
from consular.transaction import transaction
from tests.conftest import base_config
from tests.soft_authenticator import SoftAuthenticator
from tests.staff.conftest import PASSWORD, sign_in

ORIGIN = "http://consular.test"  # PUBLIC_BASE_URL of the tests (tests/conftest.py)
SECRET_PATTERN = re.compile(r'<code class="secret-key">([A-Z2-7 ]+)</code>')
CODE_PATTERN = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


@pytest.fixture(autouse=True)
def required_for_managers_and_admins(app):
    app.config["STAFF_SECOND_FACTOR_ROLES"] = ("manager", "admin")


def _set_up_app(client, clock) -> tuple[str, list[str]]:
    """Set up the authenticator app on the security pages: its secret and recovery codes."""
    page = client.get("/staff/security/authenticator-app")
    assert page.status_code == 200
    secret = SECRET_PATTERN.search(page.get_data(as_text=True)).group(1).replace(" ", "")
    done = client.post(
        "/staff/security/authenticator-app", data={"code": pyotp.TOTP(secret).at(clock())}
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    return secret, CODE_PATTERN.findall(done.get_data(as_text=True))


def _signed_in_with_app(app, account: User, clock) -> tuple[object, str, list[str]]:
    client = app.test_client()
    assert sign_in(client, account.email).status_code == 302
    secret, codes = _set_up_app(client, clock)
    return client, secret, codes


def _passed(client) -> bool:
    """Whether the client is signed in with the staff pages open to it."""
    answer = client.get("/staff/")
    return answer.status_code == 302 and answer.location.startswith("/staff/seoul")


def test_a_manager_without_a_second_factor_may_only_set_one_up(app, accounts, clock) -> None:
    client = app.test_client()
    answer = sign_in(client, accounts["manager_seoul"].email)
    assert answer.location == "/staff/security"
    for page in ("/staff/", "/staff/seoul", "/staff/seoul/schedule"):
        assert client.get(page).location == "/staff/security", page
    security = client.get("/staff/security").get_data(as_text=True)
    assert "Your role requires a second factor." in security
    admin = app.test_client()
    sign_in(admin, accounts["admin"].email)
    assert admin.get("/admin/").location == "/staff/security"


def test_a_clerk_goes_on_with_a_password_unless_clerks_are_required_too(
    app, accounts, clock
) -> None:
    client = app.test_client()
    assert sign_in(client, accounts["clerk_seoul"].email).location == "/staff/"
    assert _passed(client)
    app.config["STAFF_SECOND_FACTOR_ROLES"] = ("clerk", "manager", "admin")
    other = app.test_client()
    sign_in(other, accounts["clerk_seoul"].email)
    assert other.get("/staff/seoul").location == "/staff/security"


def test_setting_up_the_app_takes_a_code_from_it_and_shows_ten_recovery_codes(
    app, accounts, clock
) -> None:
    client = app.test_client()
    sign_in(client, accounts["manager_seoul"].email)
    page = client.get("/staff/security/authenticator-app").get_data(as_text=True)
    secret = SECRET_PATTERN.search(page).group(1).replace(" ", "")
    assert "<svg" in page  # the QR code
    wrong = client.post("/staff/security/authenticator-app", data={"code": "000000"})
    assert wrong.status_code == 422
    assert "This code is not right" in wrong.get_data(as_text=True)
    assert client.get("/staff/seoul").location == "/staff/security"
    # The same secret is offered until it is confirmed: a second look doesn't change it.
    again = client.get("/staff/security/authenticator-app").get_data(as_text=True)
    assert secret == SECRET_PATTERN.search(again).group(1).replace(" ", "")
    done = client.post(
        "/staff/security/authenticator-app", data={"code": pyotp.TOTP(secret).at(clock())}
    )
    codes = CODE_PATTERN.findall(done.get_data(as_text=True))
    assert len(codes) == len(set(codes)) == second_factors.RECOVERY_CODE_COUNT
    assert done.headers["Cache-Control"] == "no-store"
    assert _passed(client)
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
    assert not set(codes) & set(stored)  # only hashes are kept
    actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert {"add_authenticator_app", "new_recovery_codes"} <= set(actions)
    # Once confirmed, the app can't be replaced by starting over.
    assert client.get("/staff/security/authenticator-app").location == "/staff/security"


def test_signing_in_asks_for_the_code_and_accepts_each_time_step_once(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    _client, secret, _codes = _signed_in_with_app(app, manager, clock)
    used = pyotp.TOTP(secret).at(clock())
    client = app.test_client()
    assert sign_in(client, manager.email).location == "/staff/sign-in/verify"
    assert client.get("/staff/seoul").location.startswith("/staff/sign-in")  # not signed in yet
    step = client.get("/staff/sign-in/verify").get_data(as_text=True)
    assert "Authenticator app" in step and "Use a passkey" not in step
    replay = client.post(
        "/staff/sign-in/verify", data={"method": "authenticator_app", "app-code": used}
    )
    assert replay.status_code == 422
    assert "used already" in replay.get_data(as_text=True)
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock())
    answer = client.post(
        "/staff/sign-in/verify", data={"method": "authenticator_app", "app-code": f" {code} "}
    )
    assert answer.status_code == 302
    assert _passed(client)
    # The same code, a moment later, in another browser that also knows the password.
    third = app.test_client()
    sign_in(third, manager.email)
    again = third.post(
        "/staff/sign-in/verify", data={"method": "authenticator_app", "app-code": code}
    )
    assert again.status_code == 422
    assert not _passed(third)


def test_the_second_step_must_follow_the_password_within_minutes(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    _client, secret, _codes = _signed_in_with_app(app, manager, clock)
    client = app.test_client()
    sign_in(client, manager.email)
    clock.advance(minutes=6)
    late = client.post(
        "/staff/sign-in/verify",
        data={"method": "authenticator_app", "app-code": pyotp.TOTP(secret).at(clock())},
    )
    assert late.location == "/staff/sign-in"
    assert not _passed(client)
    # Without a password first there is no second step at all.
    assert app.test_client().get("/staff/sign-in/verify").location == "/staff/sign-in"


def test_a_wrong_password_never_reaches_the_second_step(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    _signed_in_with_app(app, manager, clock)
    client = app.test_client()
    assert sign_in(client, manager.email, "wrong password here").status_code == 422
    assert client.get("/staff/sign-in/verify").location == "/staff/sign-in"


def test_a_recovery_code_signs_in_once(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    _client, _secret, codes = _signed_in_with_app(app, manager, clock)
    client = app.test_client()
    sign_in(client, manager.email)
    answer = client.post(
        "/staff/sign-in/verify",
        data={"method": "recovery_code", "recovery-recovery_code": codes[3].upper()},
    )
    assert answer.status_code == 302
    assert _passed(client)
    other = app.test_client()
    sign_in(other, manager.email)
    again = other.post(
        "/staff/sign-in/verify",
        data={"method": "recovery_code", "recovery-recovery_code": codes[3]},
    )
    assert again.status_code == 422
    assert not _passed(other)
    left = db.session.scalar(
        sa.select(sa.func.count()).select_from(RecoveryCode).where(RecoveryCode.used_at.is_(None))
    )
    assert left == len(codes) - 1


def test_new_recovery_codes_replace_the_old_ones_after_the_password(app, accounts, clock) -> None:
    client, _secret, old = _signed_in_with_app(app, accounts["manager_seoul"], clock)
    refused = client.post("/staff/security/recovery-codes", data={"password": "not it at all"})
    assert refused.status_code == 422
    made = client.post("/staff/security/recovery-codes", data={"password": PASSWORD})
    new = CODE_PATTERN.findall(made.get_data(as_text=True))
    assert len(new) == second_factors.RECOVERY_CODE_COUNT and not set(new) & set(old)
    user = accounts["manager_seoul"]
    assert not second_factors.use_recovery_code(db.session, user, old[0], clock())
    assert second_factors.use_recovery_code(db.session, user, new[0], clock())


def test_the_last_factor_of_a_required_role_stays(app, accounts, clock) -> None:
    client, _secret, _codes = _signed_in_with_app(app, accounts["manager_seoul"], clock)
    wrong = client.post("/staff/security/authenticator-app/remove", data={"password": "nope"})
    assert wrong.status_code == 422
    last = client.post("/staff/security/authenticator-app/remove", data={"password": PASSWORD})
    assert last.status_code == 409
    assert "add another one before removing" in last.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthenticatorApp)) == 1
    # A clerk, whose role does not require one, may remove theirs.
    clerk, _secret, _codes = _signed_in_with_app(app, accounts["clerk_seoul"], clock)
    gone = clerk.post("/staff/security/authenticator-app/remove", data={"password": PASSWORD})
    assert gone.location == "/staff/security"
    assert not second_factors.has_second_factor(db.session, accounts["clerk_seoul"])


def test_an_administrator_resets_the_factors_of_someone_who_lost_them(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    manager_client, _secret, _codes = _signed_in_with_app(app, manager, clock)
    admin, _admin_secret, _admin_codes = _signed_in_with_app(app, accounts["admin"], clock)
    assert admin.post(f"/admin/accounts/{manager.id}/reset-second-factors").status_code == 302
    assert not second_factors.has_second_factor(db.session, manager)
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == manager.id)
        )
        == 0
    )
    assert manager_client.get("/staff/seoul").location.startswith("/staff/sign-in")  # ended
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "reset_second_factors")
    )
    assert entry is not None and entry.user_id == accounts["admin"].id
    assert entry.entity_id == str(manager.id)
    # Nobody lowers their own protection.
    own = admin.post(f"/admin/accounts/{accounts['admin'].id}/reset-second-factors")
    assert own.status_code == 403
    # A clerk can't reset anyone's.
    clerk = app.test_client()
    sign_in(clerk, accounts["clerk_seoul"].email)
    assert clerk.post(f"/admin/accounts/{manager.id}/reset-second-factors").status_code == 403


# Passkeys, answered by a software authenticator (the browser test uses Chromium's own)


def _register(client, authenticator: SoftAuthenticator, name: str = "Desk key"):
    options = client.post("/staff/security/passkeys/options").get_json()
    assert options["rp"]["id"] == "consular.test"
    return client.post(
        "/staff/security/passkeys",
        json={"name": name, "credential": authenticator.register(options)},
    )


def _sign_in_with_passkey(app, account: User, authenticator: SoftAuthenticator, **answer):
    client = app.test_client()
    assert sign_in(client, account.email).location == "/staff/sign-in/verify"
    options = client.post("/staff/sign-in/passkey/options").get_json()
    response = client.post(
        "/staff/sign-in/passkey", json={"credential": authenticator.sign(options, **answer)}
    )
    return client, response


def test_a_passkey_is_registered_and_signs_in(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    client = app.test_client()
    sign_in(client, manager.email)
    key = SoftAuthenticator(ORIGIN)
    added = _register(client, key, "  My   phone ")
    assert added.status_code == 200, added.get_json()
    assert added.get_json() == {"redirect": "/staff/security"}
    assert _passed(client)
    stored = db.session.scalar(sa.select(Passkey))
    assert stored.name == "My phone" and stored.credential_id == key.credential_id
    signed, answer = _sign_in_with_passkey(app, manager, key)
    assert answer.status_code == 200 and answer.get_json()["redirect"] == "/staff/"
    assert _passed(signed)
    db.session.expire_all()
    assert db.session.get(Passkey, stored.id).sign_count == key.counter


def test_a_passkey_answer_for_another_site_or_an_older_count_is_refused(
    app, accounts, clock
) -> None:
    manager = accounts["manager_seoul"]
    client = app.test_client()
    sign_in(client, manager.email)
    key = SoftAuthenticator(ORIGIN)
    assert _register(client, key).status_code == 200
    phished, answer = _sign_in_with_passkey(app, manager, key, origin="https://consu1ar.test")
    assert answer.status_code == 422 and not _passed(phished)
    assert _sign_in_with_passkey(app, manager, key)[1].status_code == 200
    cloned, answer = _sign_in_with_passkey(app, manager, key, counter=1)  # a copy's count
    assert answer.status_code == 422 and not _passed(cloned)


def test_a_passkey_answer_can_not_be_sent_twice(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    client = app.test_client()
    sign_in(client, manager.email)
    key = SoftAuthenticator(ORIGIN)
    assert _register(client, key).status_code == 200
    other = app.test_client()
    sign_in(other, manager.email)
    options = other.post("/staff/sign-in/passkey/options").get_json()
    signed = {"credential": key.sign(options)}
    assert other.post("/staff/sign-in/passkey", json=signed).status_code == 200
    replayed = app.test_client()
    sign_in(replayed, manager.email)
    replayed.post("/staff/sign-in/passkey/options")
    assert replayed.post("/staff/sign-in/passkey", json=signed).status_code == 422
    # The challenge is used up by the first answer, even in the same session.
    assert other.post("/staff/sign-in/passkey", json=signed).status_code in (400, 401)


def test_another_accounts_passkey_or_garbage_does_not_sign_in(app, accounts, clock) -> None:
    manager, admin = accounts["manager_seoul"], accounts["admin"]
    admins_key = SoftAuthenticator(ORIGIN)
    admin_client = app.test_client()
    sign_in(admin_client, admin.email)
    assert _register(admin_client, admins_key).status_code == 200
    managers_client = app.test_client()
    sign_in(managers_client, manager.email)
    assert _register(managers_client, SoftAuthenticator(ORIGIN)).status_code == 200
    _client, answer = _sign_in_with_passkey(app, manager, admins_key)
    assert answer.status_code == 422
    client = app.test_client()
    sign_in(client, manager.email)
    client.post("/staff/sign-in/passkey/options")
    for body in ({}, {"credential": "text"}, {"credential": {"id": "x", "response": {}}}):
        assert client.post("/staff/sign-in/passkey", json=body).status_code in (400, 422)
        client.post("/staff/sign-in/passkey/options")
    assert not _passed(client)
    # The same key registered twice is refused.
    again = _register(admin_client, admins_key)
    assert again.status_code == 422


def test_removing_a_passkey_takes_the_password_and_keeps_a_required_last_factor(
    app, accounts, clock
) -> None:
    client, _secret, _codes = _signed_in_with_app(app, accounts["manager_seoul"], clock)
    assert _register(client, SoftAuthenticator(ORIGIN)).status_code == 200
    passkey = db.session.scalar(sa.select(Passkey))
    url = f"/staff/security/passkeys/{passkey.id}/remove"
    assert client.post(url, data={"password": "wrong"}).status_code == 422
    assert client.post(url, data={"password": PASSWORD}).location == "/staff/security"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 0
    # Someone else's passkey is not found by its number.
    other, _s, _c = _signed_in_with_app(app, accounts["admin"], clock)
    assert _register(other, SoftAuthenticator(ORIGIN)).status_code == 200
    theirs = db.session.scalar(sa.select(Passkey))
    refused = client.post(
        f"/staff/security/passkeys/{theirs.id}/remove", data={"password": PASSWORD}
    )
    assert refused.status_code == 409
    assert db.session.get(Passkey, theirs.id) is not None


def test_racing_requests_with_one_code_let_exactly_one_in(
    app, accounts, clock, database_url
) -> None:
    """The conditional updates, not Python, decide: each racer has its own session and
    connection, in a transaction as a request has."""
    racers = 4
    manager = accounts["manager_seoul"]
    _client, secret, codes = _signed_in_with_app(app, manager, clock)
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock())
    barrier = threading.Barrier(racers)
    results: list[tuple[bool, bool] | str] = []
    # An app of its own whose pool gives every racer a connection (tests/test_concurrency.py).
    config = base_config(database_url, clock)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": racers + 1, "max_overflow": 0}
    racing = create_app(config)

    def race() -> None:
        try:
            with racing.app_context():
                barrier.wait(timeout=30)
                with transaction():
                    user = db.session.get(User, manager_id)
                    accepted_code = second_factors.verify_totp(db.session, user, code, clock())
                with transaction():
                    user = db.session.get(User, manager_id)
                    accepted_recovery = second_factors.use_recovery_code(
                        db.session, user, codes[0], clock()
                    )
                results.append((accepted_code, accepted_recovery))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results.append(repr(error))

    manager_id = manager.id
    db.session.commit()  # the test's own session lets go of the database
    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with racing.app_context():
        db.engine.dispose()
    assert all(isinstance(result, tuple) for result in results), results
    assert len(results) == racers
    assert sum(result[0] for result in results) == 1  # type: ignore[index]
    assert sum(result[1] for result in results) == 1  # type: ignore[index]


def _security_mails(recipient: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.kind == "staff_security", OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.id)
        )
    )


def test_the_owner_is_emailed_of_every_change_to_how_they_sign_in(app, accounts, clock) -> None:
    manager = accounts["manager_seoul"]
    manager.language = "ru"
    db.session.commit()
    client, _secret, codes = _signed_in_with_app(app, manager, clock)
    (set_up,) = _security_mails(manager.email)  # the codes come with it: one e-mail
    assert set_up.language == "ru"
    assert "приложение-аутентификатор" in set_up.text_body
    assert "http://consular.test/staff/security" in set_up.text_body
    assert codes[0] not in set_up.text_body  # never the codes themselves

    other = app.test_client()
    sign_in(other, manager.email)
    other.post(
        "/staff/sign-in/verify",
        data={"method": "recovery_code", "recovery-recovery_code": codes[0]},
    )
    client.post("/staff/security/recovery-codes", data={"password": PASSWORD})
    assert _register(client, SoftAuthenticator(ORIGIN)).status_code == 200
    new_password = "quiet lantern orbit meadow"
    changed = client.post(
        "/staff/password",
        data={
            "current_password": PASSWORD,
            "new_password": new_password,
            "repeat_password": new_password,
        },
    )
    assert changed.status_code == 302
    admin, _s, _c = _signed_in_with_app(app, accounts["admin"], clock)
    admin.post(f"/admin/accounts/{manager.id}/reset-second-factors")
    bodies = [message.text_body for message in _security_mails(manager.email)[1:]]
    assert len(bodies) == 5
    for body, words in zip(
        bodies,
        (
            "резервного кода",
            "новые резервные коды",
            "добавлен ключ доступа",
            "Пароль",
            "Администратор удалил",
        ),
        strict=True,
    ):
        assert words in body
