"""Sign-in attempts are throttled per account and per address."""

from __future__ import annotations

from consular import create_app
from consular.extensions import db
from tests.conftest import DEFAULT_NOW, Clock, base_config
from tests.staff.conftest import PASSWORD


def _app(database_url):
    config = base_config(database_url, Clock(DEFAULT_NOW)) | {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    return create_app(config)


def _emails(accounts) -> dict[str, str]:
    emails = {key: user.email for key, user in accounts.items()}
    db.session.close()  # the fixture's session must not hold SQLite's write lock meanwhile
    return emails


def test_five_failures_lock_the_account_for_a_while(database_url, accounts) -> None:
    emails = _emails(accounts)
    app = _app(database_url)
    with app.app_context():
        email = emails["clerk_seoul"]
        answers = []
        for number in range(6):
            client = app.test_client()
            answers.append(
                client.post(
                    "/staff/sign-in",
                    data={"email": email, "password": "wrong"},
                    environ_base={"REMOTE_ADDR": f"10.0.0.{number}"},  # a different address each
                ).status_code
            )
        assert answers == [422] * 5 + [429]
        blocked = app.test_client().post(
            "/staff/sign-in",
            data={"email": email, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.1.1"},
        )
        assert blocked.status_code == 429  # even with the right password, for now
        other = app.test_client().post(
            "/staff/sign-in",
            data={"email": emails["clerk_busan"], "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.1.1"},
        )
        assert other.status_code == 302
        db.session.remove()
        db.engine.dispose()


def test_one_address_trying_many_accounts_is_throttled(database_url, accounts) -> None:
    _emails(accounts)
    app = _app(database_url)
    with app.app_context():
        answers = [
            app.test_client()
            .post(
                "/staff/sign-in",
                data={"email": f"guess{n}@example.org", "password": "x"},
                environ_base={"REMOTE_ADDR": "10.9.9.9"},
            )
            .status_code
            for n in range(21)
        ]
        assert answers[:20] == [422] * 20 and answers[20] == 429
        db.session.remove()
        db.engine.dispose()
