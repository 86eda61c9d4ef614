"""Sign-in guessing is slowed per (e-mail, address) pair and made to pay per account, and it
can neither lock the real user out nor starve the other pages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import altcha
import pytest
import sqlalchemy as sa

from consular import create_app
from consular.clients import Client
from consular.config import ConfigError
from consular.extensions import db
from consular.models import SignInFailure, SpentSignInProof
from consular.services import passwords, proof_of_work, sign_in_throttle
from tests.conftest import DEFAULT_NOW, Clock, base_config
from tests.staff.conftest import PASSWORD

HOME = "192.0.2.10"  # the real user's own address
ATTACKERS = [f"198.51.100.{n}" for n in range(1, 9)]
WRONG = "wrong password"


def attempt(app, email: str, password: str, address: str, **extra: str):
    """A sign-in from a fresh browser at this address."""
    return app.test_client().post(
        "/staff/sign-in",
        data={"email": email, "password": password, **extra},
        environ_base={"REMOTE_ADDR": address},
    )


def error_text(response) -> str:
    return response.get_data(as_text=True)


def solved(client, path: str = "/staff/sign-in/challenge") -> str:
    """The payload the widget would send for the sign-in's challenge, solved by ALTCHA."""
    answer = client.get(path)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    challenge = altcha.Challenge.from_dict(answer.get_json())
    solution = altcha.solve_challenge(challenge, timeout=30)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def failure_rows() -> list[SignInFailure]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(SignInFailure).order_by(SignInFailure.address)))


@pytest.fixture
def throttle(app) -> dict[str, Any]:
    """The production defaults of the throttle, with proof of work cheap enough for a test."""
    app.config.update(
        SIGN_IN_FREE_FAILURES=3,
        SIGN_IN_FIRST_DELAY_SECONDS=1,
        SIGN_IN_MAX_DELAY_SECONDS=300,
        SIGN_IN_POW_AFTER_FAILURES=5,
        SIGN_IN_POW_WINDOW_MINUTES=15,
        SIGN_IN_POW_MAX_NUMBER=40,
        POW_COST=1,
    )
    return app.config


# Per pair: a growing wait, for that address only


@pytest.mark.parametrize("known", [True, False], ids=["account", "no-account"])
def test_the_wait_grows_for_the_pair_and_a_success_clears_it(
    app, accounts, clock, throttle, known
) -> None:
    throttle["SIGN_IN_POW_AFTER_FAILURES"] = 0  # the pair alone here
    email = accounts["clerk_seoul"].email if known else "nobody@example.org"
    answers = [attempt(app, email, WRONG, HOME).status_code for _ in range(3)]
    assert answers == [422, 422, 422]  # the third wrong one starts a wait of 1 s
    waits = []
    for expected in (1, 2, 4, 8):
        refused = attempt(app, email, PASSWORD, HOME)  # even the right password waits
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        assert f"Try again in {expected}\u00a0second" in error_text(refused)
        clock.advance(seconds=expected - 1)
        assert attempt(app, email, WRONG, HOME).status_code == 429  # not over yet
        clock.advance(seconds=1)
        assert attempt(app, email, WRONG, HOME).status_code == 422  # tried, and wrong
    assert waits == [1, 2, 4, 8]
    refused = attempt(app, email, PASSWORD, HOME)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "16"
    clock.advance(seconds=16)
    if known:
        assert attempt(app, email, PASSWORD, HOME).status_code == 302
        assert failure_rows() == []  # the success cleared the pair
        answers = [attempt(app, email, WRONG, HOME).status_code for _ in range(3)]
        assert answers == [422, 422, 422]  # counting from nothing again
        assert attempt(app, email, PASSWORD, HOME).headers["Retry-After"] == "1"


def test_the_wait_is_capped_and_told_in_minutes(app, accounts, clock, throttle) -> None:
    throttle.update(SIGN_IN_POW_AFTER_FAILURES=0, SIGN_IN_MAX_DELAY_SECONDS=300)
    email = accounts["clerk_seoul"].email
    for _ in range(20):
        attempt(app, email, WRONG, HOME)
        clock.advance(seconds=300)
    refused = attempt(app, email, WRONG, "198.51.100.200")
    assert refused.status_code == 422  # another address is not waiting
    attempt(app, email, WRONG, HOME)
    refused = attempt(app, email, WRONG, HOME)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "300"
    assert "Try again in 5\u00a0minutes." in error_text(refused)


def test_an_attacker_elsewhere_does_not_lock_the_real_user_out(
    app, accounts, clock, throttle
) -> None:
    throttle["SIGN_IN_POW_AFTER_FAILURES"] = 0  # the proof of work is the next test's
    email = accounts["clerk_seoul"].email
    for _ in range(3):
        assert all(attempt(app, email, WRONG, a).status_code == 422 for a in ATTACKERS)
    assert all(attempt(app, email, WRONG, a).status_code == 429 for a in ATTACKERS)
    assert attempt(app, email, PASSWORD, HOME).status_code == 302  # the real user gets in
    clock.advance(seconds=1)  # the attackers keep trying, as fast as they are let
    assert all(attempt(app, email, WRONG, a).status_code == 422 for a in ATTACKERS)
    assert all(attempt(app, email, WRONG, a).status_code == 429 for a in ATTACKERS)
    assert attempt(app, email, PASSWORD, HOME).status_code == 302
    assert [(row.address, row.failures) for row in failure_rows()] == [
        (address, 4) for address in sorted(ATTACKERS)
    ]


# Per account: a proof of work instead of a lock


def test_after_account_failures_a_proof_of_work_lets_the_right_password_in(
    app, accounts, offices, clock, throttle
) -> None:
    email = accounts["clerk_seoul"].email
    for address in ATTACKERS[:4]:
        assert attempt(app, email, WRONG, address).status_code == 422
    page = error_text(attempt(app, email, WRONG, ATTACKERS[4]))  # the fifth, from anywhere
    assert 'data-challenge-url="/staff/sign-in/challenge"' in page  # the widget from now on

    refused = attempt(app, email, PASSWORD, HOME)  # the right password, without the proof
    assert refused.status_code == 422
    page = error_text(refused)
    assert "data-proof-of-work" in page and "js/proof-of-work.js" in page
    assert "your browser must first finish a short check" in page
    assert "<script>" not in page  # no inline script: the CSP forbids it

    browser = app.test_client()
    payload = solved(browser)
    wrong = browser.post(
        "/staff/sign-in",
        data={"email": email, "password": WRONG, "proof_of_work": payload},
        environ_base={"REMOTE_ADDR": ATTACKERS[5]},
    )
    assert wrong.status_code == 422  # a bot's solved proof buys one try, and it was wrong
    replayed = attempt(app, email, PASSWORD, HOME, proof_of_work=payload)
    assert replayed.status_code == 422 and "already been used" in error_text(replayed)

    browser = app.test_client()
    signed_in = browser.post(
        "/staff/sign-in",
        data={"email": email, "password": PASSWORD, "proof_of_work": solved(browser)},
        environ_base={"REMOTE_ADDR": HOME},
    )
    assert signed_in.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpentSignInProof)) == 2
    other = attempt(app, accounts["clerk_busan"].email, PASSWORD, HOME)
    assert other.status_code == 302  # other accounts need no proof

    clock.advance(minutes=16)  # the account's failures are old now
    assert attempt(app, email, WRONG, ATTACKERS[6]).status_code == 422
    assert attempt(app, email, PASSWORD, HOME).status_code == 302


def test_a_proof_of_another_kind_or_expired_is_refused(
    app, accounts, offices, clock, throttle
) -> None:
    email = accounts["clerk_seoul"].email
    for address in ATTACKERS[:5]:
        attempt(app, email, WRONG, address)
    settings = replace(proof_of_work.settings_from_config(app.config), enabled=True)
    client = Client(HOME, "192.0.2.0/24", "Firefox")
    hold_challenge = proof_of_work.issue_challenge(
        db.session, offices[0], client, clock(), settings
    )
    db.session.commit()
    parsed = altcha.Challenge.from_dict(hold_challenge)
    hold_payload = altcha.Payload(parsed, altcha.solve_challenge(parsed, timeout=30)).to_base64()
    for bad in (hold_payload, "not a proof", "x" * 10_000):
        refused = attempt(app, email, PASSWORD, HOME, proof_of_work=bad)
        assert refused.status_code == 422 and "could not be confirmed" in error_text(refused)

    sign_in_payload = solved(app.test_client())
    with pytest.raises(proof_of_work.ProofOfWorkInvalid):  # and a hold refuses a sign-in's
        proof_of_work.require_proof(
            db.session, "seoul", sign_in_payload, None, client, clock(), settings
        )
    db.session.rollback()
    clock.advance(seconds=app.config["POW_EXPIRY_SECONDS"])
    expired = attempt(app, email, PASSWORD, HOME, proof_of_work=sign_in_payload)
    assert expired.status_code == 422 and "has expired" in error_text(expired)


# Per process: a bound on password hashing


def test_with_every_hashing_turn_taken_sign_in_answers_at_once_and_other_pages_work(
    app, accounts, offices, throttle
) -> None:
    throttle.update(SIGN_IN_HASH_CONCURRENCY=2, SIGN_IN_HASH_WAIT_SECONDS=0)
    slots = sign_in_throttle.hashing_slots(app)
    taken = [slots.acquire(blocking=False) for _ in range(2)]
    assert taken == [True, True] and not slots.acquire(blocking=False)
    try:
        busy = attempt(app, accounts["clerk_seoul"].email, PASSWORD, HOME)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert "Try again in a moment." in error_text(busy)
        assert failure_rows() == []  # nothing was tried, so nothing counts
        assert app.test_client().get("/api/v1/offices").status_code == 200
        assert app.test_client().get("/staff/sign-in").status_code == 200
    finally:
        slots.release()
        slots.release()
    assert attempt(app, accounts["clerk_seoul"].email, PASSWORD, HOME).status_code == 302


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGN_IN_HASH_CONCURRENCY", 0),
        ("SIGN_IN_FREE_FAILURES", 0),
        ("SIGN_IN_HASH_WAIT_SECONDS", 60),
    ],
)
def test_settings_that_would_lock_everyone_out_are_refused(database_url, name, value) -> None:
    config = base_config(database_url, Clock(DEFAULT_NOW)) | {name: value}
    with pytest.raises(ConfigError, match=name):
        create_app(config)


# A deactivated account answers with the same work


class CountingHasher:
    """The suite's hasher, counting the password verifications."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.verifications = 0

    def verify(self, hash_: str, password: str) -> bool:
        self.verifications += 1
        return bool(self.inner.verify(hash_, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_deactivated_account_is_answered_with_the_same_work(
    app, accounts, throttle, monkeypatch
) -> None:
    throttle["SIGN_IN_POW_AFTER_FAILURES"] = 0
    accounts["clerk_busan"].active = False
    db.session.commit()
    cases = {
        "no account": ("nobody@example.org", PASSWORD),
        "wrong password": (accounts["clerk_seoul"].email, WRONG),
        "deactivated, right password": (accounts["clerk_busan"].email, PASSWORD),
        "deactivated, wrong password": (accounts["clerk_busan"].email, WRONG),
    }
    counted = {}
    for case, (email, password) in cases.items():
        hasher = CountingHasher(passwords._hasher)
        monkeypatch.setattr(passwords, "_hasher", hasher)
        answer = attempt(app, email, password, HOME)
        assert answer.status_code == 422, case
        assert "The email address or the password is wrong." in error_text(answer)
        counted[case] = hasher.verifications
    assert counted == dict.fromkeys(cases, 1)


# Per address, across accounts (spraying)


def _rate_limited_app(database_url):
    config = base_config(database_url, Clock(DEFAULT_NOW)) | {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    return create_app(config)


@pytest.mark.slow  # 21 verifications of the dummy hash, at production cost
def test_one_address_trying_many_accounts_is_throttled(database_url, accounts) -> None:
    db.session.close()  # the fixture's session must not hold SQLite's write lock meanwhile
    app = _rate_limited_app(database_url)
    with app.app_context():
        answers = [
            attempt(app, f"guess{n}@example.org", "x", "10.9.9.9").status_code for n in range(21)
        ]
        assert answers[:20] == [422] * 20 and answers[20] == 429
        assert attempt(app, "guess0@example.org", "x", "10.9.9.10").status_code == 422
        db.session.remove()
        db.engine.dispose()
