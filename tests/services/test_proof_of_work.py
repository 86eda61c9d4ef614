"""Proof of work in front of every hold, read top to bottom as its specification.

A challenge is issued for an office, solved here with ALTCHA's own solver (as the widget
solves it), and accepted once; expired, tampered, foreign or reused proofs are refused. The
difficulty rises with the office's hold requests and with those of the client's network,
and a proof solved before it more than doubled is refused. Tests make the work tiny
(`POW_COST` 1, a maximum number of 40); the production figures are in README.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import altcha
import pytest
import sqlalchemy as sa
from flask import Flask

from consular import create_app
from consular.clients import Client
from consular.extensions import db
from consular.models import Office, SpentProof
from consular.services import proof_of_work
from consular.services.proof_of_work import (
    EXPIRED,
    INVALID,
    REUSED,
    TOO_EASY,
    PowSettings,
    Proof,
    ProofOfWorkInvalid,
    ProofOfWorkRequired,
    difficulty,
    issue_challenge,
    require_proof,
    settings_from_config,
)
from tests.conftest import Clock, base_config

BASE = 40
HOME = Client("203.0.113.7", "203.0.113.0/24", "Firefox")
NEIGHBOUR = Client("203.0.113.99", "203.0.113.0/24", "Chrome")
ELSEWHERE = Client("198.51.100.5", "198.51.100.0/24", "Safari")
FINGERPRINT = "0f" * 16


@pytest.fixture
def settings(app: Flask) -> PowSettings:
    """Proof of work on, with work small enough to solve in a test."""
    app.config.update(POW_ENABLED=True, POW_COST=1, POW_BASE_MAX_NUMBER=BASE)
    return settings_from_config(app.config)


@pytest.fixture
def seoul(make_office) -> Office:
    return make_office("seoul", generate=False)


def solve(challenge: dict[str, Any]) -> str:
    """The payload the widget would send for this challenge, solved by ALTCHA's solver."""
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=30)
    assert solution is not None
    return altcha.Payload(parsed, solution).to_base64()


def spend(
    payload: object,
    clock: Clock,
    settings: PowSettings,
    *,
    office: str = "seoul",
    client: Client = HOME,
    fingerprint: object = None,
) -> Proof:
    """Check and spend a proof as a hold view does: in a transaction of its own."""
    try:
        proof = require_proof(db.session, office, payload, fingerprint, client, clock(), settings)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return proof


def solved(office: Office, clock: Clock, settings: PowSettings, client: Client = HOME) -> str:
    """A proof solved for this office now, its read ended as the challenge route's is."""
    challenge = issue_challenge(db.session, office, client, clock(), settings)
    db.session.commit()
    return solve(challenge)


def spent_rows() -> list[SpentProof]:
    return list(db.session.scalars(sa.select(SpentProof).order_by(SpentProof.spent_at)))


def reencode(payload: str, change) -> str:
    """The payload with its JSON changed by `change`, base64 again."""
    document = json.loads(base64.b64decode(payload))
    change(document)
    return base64.b64encode(json.dumps(document).encode()).decode()


# Issuing and accepting


def test_a_challenge_is_an_altcha_v2_challenge_for_one_office(seoul, clock, settings) -> None:
    challenge = issue_challenge(db.session, seoul, HOME, clock(), settings)
    parameters = challenge["parameters"]
    assert parameters["algorithm"] == "PBKDF2/SHA-256" and parameters["cost"] == 1
    assert len(parameters["keyPrefix"]) == 32  # deterministic: the key of one counter
    assert parameters["keySignature"] and challenge["signature"]
    now = int(clock().timestamp())
    assert parameters["data"] == {
        "office": "seoul",
        "office_id": seoul.id,
        "max_number": BASE,
        "issued": now,
        "expires": now + 300,
    }
    assert "expiresAt" not in parameters  # the browser's clock may be wrong: we check expiry
    solution = altcha.solve_challenge(altcha.Challenge.from_dict(challenge))
    assert solution is not None and BASE // 2 <= solution.counter < BASE


def test_a_solved_challenge_is_accepted_once(seoul, clock, settings) -> None:
    payload = solved(seoul, clock, settings)
    proof = spend(payload, clock, settings, fingerprint=FINGERPRINT)
    assert proof == Proof(max_number=BASE, fingerprint=FINGERPRINT)
    [row] = spent_rows()
    assert (row.office_id, row.network) == (seoul.id, "203.0.113.0/24")
    assert row.signature == json.loads(base64.b64decode(payload))["challenge"]["signature"]

    with pytest.raises(ProofOfWorkInvalid) as refused:
        spend(payload, clock, settings)
    assert refused.value.message == REUSED
    with pytest.raises(ProofOfWorkInvalid):  # from another address of the same or any network
        spend(payload, clock, settings, client=ELSEWHERE)
    assert len(spent_rows()) == 1


def test_a_solution_is_refused_after_the_challenge_expires(seoul, clock, settings) -> None:
    payload, later = solved(seoul, clock, settings), solved(seoul, clock, settings)
    clock.advance(seconds=299)
    assert spend(payload, clock, settings).max_number == BASE
    clock.advance(seconds=1)
    with pytest.raises(ProofOfWorkInvalid) as refused:
        spend(later, clock, settings)
    assert refused.value.message == EXPIRED
    assert refused.value.code == "proof_of_work_invalid" and refused.value.http_status == 422


@pytest.mark.parametrize("payload", [None, "", "   ", 7, ["x"], {"a": 1}])
def test_a_missing_proof_is_required(seoul, clock, settings, payload) -> None:
    with pytest.raises(ProofOfWorkRequired) as refused:
        spend(payload, clock, settings)
    assert refused.value.code == "proof_of_work_required" and refused.value.field == "proof_of_work"


def _forged(challenge: dict[str, Any], **options: Any) -> str:
    """A challenge like ours made with other keys or options, solved."""
    parameters = challenge["parameters"]
    forged = altcha.create_challenge(
        algorithm=options.pop("algorithm", "PBKDF2/SHA-256"),
        cost=1,
        counter=3,
        data=parameters["data"],
        **options,
    )
    return solve(forged.to_dict())


TAMPERINGS = {
    "another derived key": lambda d: d["solution"].update(derivedKey="00" * 32),
    "no derived key": lambda d: d["solution"].pop("derivedKey"),
    "a larger maximum": lambda d: d["challenge"]["parameters"]["data"].update(max_number=10**6),
    "a later expiry": lambda d: d["challenge"]["parameters"]["data"].update(expires=2**40),
    "another office": lambda d: d["challenge"]["parameters"]["data"].update(office="busan"),
    "a cheaper cost": lambda d: d["challenge"]["parameters"].update(cost=0),
    "no key signature": lambda d: d["challenge"]["parameters"].pop("keySignature"),
    "no signature": lambda d: d["challenge"].pop("signature"),
    "another signature": lambda d: d["challenge"].update(signature="ab" * 32),
    "no data": lambda d: d["challenge"]["parameters"].pop("data"),
    "a list for a challenge": lambda d: d.update(challenge=[1, 2]),
}


@pytest.mark.parametrize("tampering", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_a_tampered_proof_is_refused(seoul, clock, settings, tampering) -> None:
    payload = reencode(solved(seoul, clock, settings), tampering)
    with pytest.raises(ProofOfWorkInvalid) as refused:
        spend(payload, clock, settings)
    assert refused.value.message == INVALID
    assert spent_rows() == []


@pytest.mark.parametrize(
    "payload",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[]").decode(),
        base64.b64encode(b'{"challenge": {}, "solution": {}}').decode(),
        base64.b64encode(b"\xff\xfe").decode(),
        "A" * 5000,
        base64.b64encode(("[" * 3000 + "]" * 3000).encode()).decode()[:4000],
    ],
    ids=["not-base64", "not-json", "a-list", "empty-members", "not-utf8", "too-long", "deep"],
)
def test_garbage_is_refused_as_invalid_never_an_error(seoul, clock, settings, payload) -> None:
    with pytest.raises(ProofOfWorkInvalid):
        spend(payload, clock, settings)


def test_challenges_we_did_not_sign_are_refused(seoul, clock, settings) -> None:
    ours = issue_challenge(db.session, seoul, HOME, clock(), settings)
    for payload in (
        _forged(ours),  # unsigned
        _forged(ours, hmac_secret="another key", hmac_key_secret="another"),
        _forged(ours, hmac_secret=settings.hmac_key),  # ours, but without a key signature
        _forged(
            ours,
            algorithm="SHA-256",
            hmac_secret=settings.hmac_key,
            hmac_key_secret=settings.key_signature_secret,
        ),
    ):
        with pytest.raises(ProofOfWorkInvalid):
            spend(payload, clock, settings)


def test_a_proof_counts_only_for_the_office_it_was_issued_for(
    seoul, make_office, clock, settings
) -> None:
    make_office("busan", generate=False)
    payload = solved(seoul, clock, settings)
    for office in ("busan", "SEOUL", None, 5):
        with pytest.raises(ProofOfWorkInvalid):
            spend(payload, clock, settings, office=office)  # type: ignore[arg-type]
    assert spend(payload, clock, settings).max_number == BASE


def test_the_key_comes_from_the_secret_key_unless_one_is_set(app: Flask) -> None:
    derived = settings_from_config(app.config).hmac_key
    assert derived and derived != app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "another secret"
    assert settings_from_config(app.config).hmac_key != derived
    app.config["POW_HMAC_KEY"] = "a key of its own"
    assert settings_from_config(app.config).hmac_key == "a key of its own"


def test_proofs_signed_with_a_previous_key_are_refused(seoul, app, clock, settings) -> None:
    payload = solved(seoul, clock, settings)
    app.config["POW_HMAC_KEY"] = "rotated"
    with pytest.raises(ProofOfWorkInvalid):
        spend(payload, clock, settings_from_config(app.config))


def test_with_proof_of_work_off_nothing_is_asked_or_written(seoul, app, clock) -> None:
    app.config["POW_ENABLED"] = False
    off = settings_from_config(app.config)
    assert spend(None, clock, off, fingerprint=FINGERPRINT) == Proof(None, FINGERPRINT)
    assert spend("garbage", clock, off) == Proof(None, None)
    assert spent_rows() == []


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (FINGERPRINT, FINGERPRINT),
        ("a" * 64, "a" * 64),
        ("a" * 15, None),
        ("a" * 65, None),
        ("0F" * 16, None),
        ("<script>", None),
        (12, None),
        (None, None),
    ],
)
def test_the_device_fingerprint_is_kept_only_when_it_is_a_hash(sent, kept) -> None:
    assert proof_of_work.clean_fingerprint(sent) == kept


# The rise


def _requests(office: Office, clock: Clock, network: str, count: int, ago: timedelta) -> None:
    """Hold requests spent `ago`, as rows: what the difficulty counts."""
    at = clock() - ago
    for number in range(count):
        db.session.add(
            SpentProof(
                signature=f"{network}-{ago}-{number}",
                office_id=office.id,
                network=network,
                spent_at=at,
                forget_at=at + timedelta(minutes=10),
            )
        )
    db.session.commit()


def test_difficulty_rises_with_the_offices_hold_rate(seoul, make_office, clock, settings) -> None:
    busan = make_office("busan", generate=False)

    def level() -> int:
        return difficulty(db.session, seoul.id, "192.0.2.0/24", clock(), settings).max_number

    assert level() == BASE
    for number in range(20):  # the normal rate: 20 in 10 minutes, each from its own network
        _requests(seoul, clock, f"10.{number}.0.0/24", 1, timedelta(minutes=1))
    assert level() == BASE
    for number in range(20, 40):
        _requests(seoul, clock, f"10.{number}.0.0/24", 1, timedelta(minutes=1))
    assert level() == 2 * BASE  # twice the normal rate: twice the work for everyone
    for number in range(40, 70):
        _requests(seoul, clock, f"10.{number}.0.0/24", 1, timedelta(minutes=1))
    assert level() == round(3.5 * BASE)
    _requests(seoul, clock, "10.99.0.0/24", 500, timedelta(0))
    assert level() == 8 * BASE  # POW_OFFICE_MAX_FACTOR
    assert difficulty(db.session, busan.id, "192.0.2.0/24", clock(), settings).max_number == BASE
    clock.advance(minutes=9)  # the first 70 leave the window; the 500 are still in it
    assert level() == 8 * BASE
    clock.advance(minutes=1)
    assert level() == BASE


def test_difficulty_doubles_with_each_hold_from_the_network_beyond_five(
    seoul, make_office, clock, settings
) -> None:
    def level(client: Client = HOME) -> int:
        return difficulty(db.session, seoul.id, client.network, clock(), settings).max_number

    levels = []
    for _ in range(8):
        levels.append(level())
        spend(solved(seoul, clock, settings), clock, settings, client=HOME)
    assert levels == [BASE] * 5 + [2 * BASE, 4 * BASE, 8 * BASE]
    assert level(NEIGHBOUR) == 16 * BASE  # the same /24
    assert level(ELSEWHERE) == BASE
    # At another office, so that Seoul's rate stays normal: a network counts everywhere.
    _requests(make_office("busan", generate=False), clock, HOME.network, 100, timedelta(0))
    assert level() == 256 * BASE  # POW_NETWORK_MAX_FACTOR
    clock.advance(minutes=10)
    assert level() == BASE


def test_a_proof_solved_before_the_difficulty_more_than_doubled_is_refused(
    seoul, clock, settings
) -> None:
    stock = [solved(seoul, clock, settings) for _ in range(8)]  # all at the base difficulty
    for payload in stock[:6]:  # the sixth is asked twice the base: half of it is enough
        spend(payload, clock, settings)
    with pytest.raises(ProofOfWorkInvalid) as refused:
        spend(stock[6], clock, settings)  # asked four times the base now
    assert refused.value.message == TOO_EASY
    dearer = solved(seoul, clock, settings)
    assert spend(dearer, clock, settings).max_number == 4 * BASE


def test_spent_proofs_are_forgotten_once_they_count_for_nothing(seoul, clock, settings) -> None:
    first = spend(solved(seoul, clock, settings), clock, settings)
    assert first.max_number == BASE
    [row] = spent_rows()
    assert row.forget_at == clock() + timedelta(minutes=10)  # the window outlasts the expiry
    clock.advance(minutes=10)
    spend(solved(seoul, clock, settings), clock, settings)
    assert [r.spent_at for r in spent_rows()] == [clock()]  # the first one went
    db.session.add_all(
        SpentProof(
            signature=f"old-{number}",
            office_id=seoul.id,
            network="10.0.0.0/24",
            spent_at=clock() - timedelta(hours=1),
            forget_at=clock() - timedelta(minutes=50),
        )
        for number in range(150)
    )
    db.session.commit()
    spend(solved(seoul, clock, settings), clock, settings)
    assert len(spent_rows()) == 2 + 50  # a hundred at a time, so no request does much
    spend(solved(seoul, clock, settings), clock, settings)
    assert len(spent_rows()) == 3


def test_a_long_expiry_keeps_the_proof_until_it_expires(seoul, app, clock, settings) -> None:
    app.config["POW_EXPIRY_SECONDS"] = 1800
    longer = settings_from_config(app.config)
    spend(solved(seoul, clock, longer), clock, longer)
    [row] = spent_rows()
    assert row.forget_at == clock() + timedelta(minutes=30)


# Many workers at once


@pytest.fixture
def racing_app(app: Flask, database_url: str, clock: Clock) -> Iterator[Flask]:
    """A second app on the test database, whose pool holds a connection for each racer."""
    config = base_config(database_url, clock)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": 10, "max_overflow": 0}
    racing = create_app(config)
    yield racing
    with racing.app_context():
        db.engine.dispose()


def test_one_proof_sent_by_many_workers_at_once_is_accepted_once(
    seoul, clock, settings, racing_app
) -> None:
    payload = solved(seoul, clock, settings)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def racer() -> None:
        with racing_app.app_context():
            barrier.wait()
            try:
                require_proof(db.session, "seoul", payload, None, HOME, clock(), settings)
                db.session.commit()
                outcomes.append("accepted")
            except ProofOfWorkInvalid as error:
                db.session.rollback()
                outcomes.append(str(error.message))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == sorted(["accepted"] + [str(REUSED)] * 7)
    assert len(spent_rows()) == 1
