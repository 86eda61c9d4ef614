"""Proof of work through the JSON API: the challenge route and the hold's answers, each checked
against the OpenAPI document. Proof of work is on here, with tiny work (see
tests/services/test_proof_of_work.py for the rules themselves)."""

from __future__ import annotations

from typing import Any

import altcha
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext

from consular import create_app
from consular.api.openapi import openapi_document
from consular.extensions import db
from consular.services import proof_of_work
from tests.api import test_openapi
from tests.api.test_openapi import API, assert_conforms, assert_refused, hold_body
from tests.conftest import base_config

offices = test_openapi.offices  # the fixture: Seoul, and Busan with booking closed

BASE = 40
HOLD = "/appointments"


@pytest.fixture(autouse=True)
def proof_of_work_on(app: Flask) -> None:
    app.config.update(POW_ENABLED=True, POW_COST=1, POW_BASE_MAX_NUMBER=BASE)


@pytest.fixture
def pow_api() -> schemathesis.BaseSchema:
    """The document as a server with proof of work on describes itself."""
    return schemathesis.openapi.from_dict(openapi_document(proof_of_work=True))


def solved(client: FlaskClient, office: str = "seoul") -> str:
    """A proof for a hold at the office, as a client of the API gets and solves it."""
    response = client.get(f"{API}/challenge?office={office}")
    assert response.status_code == 200, response.get_data(as_text=True)
    challenge = altcha.Challenge.from_dict(response.get_json())
    solution = altcha.solve_challenge(challenge, timeout=30)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def hold(client: FlaskClient, body: dict[str, Any], **headers: str):
    return client.post(f"{API}{HOLD}", json=body, headers=headers)


def test_a_challenge_conforms_and_is_never_cached(client, pow_api, offices) -> None:
    response = client.get(f"{API}/challenge?office=seoul")
    body = assert_conforms(pow_api, "GET", "/challenge", response)
    assert response.headers["Cache-Control"] == "no-store"
    assert body["parameters"]["data"]["office"] == "seoul"
    assert body["parameters"]["data"]["max_number"] == BASE
    for query in ("office=nowhere", "office=", "", "office=%00"):
        response = client.get(f"{API}/challenge?{query}")
        assert_refused(pow_api, "GET", "/challenge", response, "not_found")


def test_a_hold_with_a_solved_challenge_conforms(client, pow_api, offices) -> None:
    body = hold_body(offices, proof_of_work=solved(client), device_fingerprint="ab" * 16)
    response = hold(client, body)
    assert response.status_code == 201, response.get_json()
    assert_conforms(pow_api, "POST", HOLD, response)


def test_a_hold_without_a_proof_is_422_required_in_the_clients_language(
    app, client, pow_api, offices
) -> None:
    for body in (hold_body(offices), hold_body(offices, proof_of_work=None)):
        answer = assert_refused(pow_api, "POST", HOLD, hold(client, body), "proof_of_work_required")
        assert answer["field"] == "proof_of_work"
        assert answer["message"].startswith("Before the time can be held")
    answer = hold(client, hold_body(offices), **{"Accept-Language": "ru"}).get_json()
    with app.test_request_context(), force_locale("ru"):
        expected = gettext(
            "Before the time can be held, your browser must finish a short check that a "
            "person is booking. It needs JavaScript. Wait until the check is done, then "
            "press the button again."
        )
    assert answer["message"] == expected and not expected.startswith("Before")


def test_wrong_expired_and_reused_proofs_are_422_invalid(
    client, pow_api, offices, clock, iins
) -> None:
    for wrong in ("garbage", "A" * 5000, solved(client, "busan")):
        body = hold_body(offices, proof_of_work=wrong)
        answer = assert_refused(pow_api, "POST", HOLD, hold(client, body), "proof_of_work_invalid")
        assert answer["field"] == "proof_of_work"

    stale = solved(client)
    clock.advance(minutes=5)
    answer = assert_refused(
        pow_api,
        "POST",
        HOLD,
        hold(client, hold_body(offices, proof_of_work=stale)),
        "proof_of_work_invalid",
    )
    assert answer["message"] == str(proof_of_work.EXPIRED)

    proof = solved(client)
    person = {"iin": next(iins)}
    assert hold(client, hold_body(offices, person=person, proof_of_work=proof)).status_code == 201
    again = hold_body(offices, person={"iin": next(iins)}, proof_of_work=proof)
    answer = assert_refused(pow_api, "POST", HOLD, hold(client, again), "proof_of_work_invalid")
    assert answer["message"] == str(proof_of_work.REUSED)


def test_a_refused_hold_still_spends_its_proof(client, pow_api, offices, iins) -> None:
    person = {"iin": next(iins)}
    assert hold(client, hold_body(offices, person=person, proof_of_work=solved(client)))
    proof = solved(client)
    wrong = {**person, "passport_number": "not a passport"}
    refused = hold(client, hold_body(offices, person=wrong, proof_of_work=proof))
    assert_refused(pow_api, "POST", HOLD, refused, "validation")
    other = hold_body(offices, person={"iin": next(iins)}, proof_of_work=proof)
    assert_refused(pow_api, "POST", HOLD, hold(client, other), "proof_of_work_invalid")


def test_the_proof_is_checked_before_the_booking_but_after_the_json(
    client, pow_api, offices
) -> None:
    response = client.post(f"{API}{HOLD}", data="[]", content_type="application/json")
    assert_refused(pow_api, "POST", HOLD, response, "bad_request")
    # A booking with every member wrong is refused for its proof first: the cheap check.
    assert_refused(pow_api, "POST", HOLD, hold(client, {}), "proof_of_work_required")
    body = {"office": "seoul", "proof_of_work": solved(client)}
    answer = assert_refused(pow_api, "POST", HOLD, hold(client, body), "validation")
    assert {"services", "start", "applicant"} <= set(answer["fields"])


def test_a_fingerprint_that_is_not_a_hash_is_ignored(client, offices) -> None:
    body = hold_body(offices, proof_of_work=solved(client), device_fingerprint="<b>not hex</b>")
    assert hold(client, body).status_code == 201


def test_the_served_document_requires_the_proof_when_it_is_on(client) -> None:
    served = client.get(f"{API}/openapi.json").get_json()
    assert served == openapi_document(proof_of_work=True)
    schema = served["paths"][HOLD]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"required": ["proof_of_work"]} in schema["allOf"]
    off = openapi_document(proof_of_work=False)["paths"][HOLD]["post"]["requestBody"]
    assert {"required": ["proof_of_work"]} not in off["content"]["application/json"]["schema"][
        "allOf"
    ]


def test_too_many_challenges_are_429_as_documented(database_url, clock, pow_api, offices) -> None:
    limited = create_app(
        base_config(database_url, clock)
        | {"RATELIMIT_ENABLED": True, "POW_ENABLED": True, "POW_CHALLENGE_RATE_LIMIT": "2/minute"}
    )
    client = limited.test_client()
    answers = [client.get(f"{API}/challenge?office=seoul") for _ in range(3)]
    with limited.app_context():
        db.engine.dispose()
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert_refused(pow_api, "GET", "/challenge", answers[2], "rate_limited")
