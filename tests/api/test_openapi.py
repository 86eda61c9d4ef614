"""The OpenAPI document: valid, complete, and true to every answer the API gives.

Read top to bottom: the document itself; each answer in the life of a booking, checked
against it; malformed requests, which must never get a 500; then schemathesis, which
generates requests for every operation from the document and checks every answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, settings
from werkzeug.test import TestResponse

from consular import create_app
from consular.api import schemas as schemas_module
from consular.api.openapi import openapi_document
from consular.extensions import db
from consular.models import OutboxMessage
from consular.services.booking_request import MAX_SERVICES_PER_VISIT, BookingRequestBody
from tests.conftest import base_config, booking_body

# Monday 2026-11-30 09:00 in Seoul; the test clock starts on the Sunday before.
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
API = "/api/v1"


@pytest.fixture
def offices(make_office, make_service) -> dict[str, Any]:
    """Seoul with a service for each kind of details, and Busan with online booking closed."""
    renewal = make_service("passport-renewal", detail_sets=["current_passport"])
    marriage = make_service("marriage-registration", detail_sets=["spouse"], duration_minutes=30)
    birth = make_service("birth-registration", detail_sets=["child", "parents"])
    seoul = make_office("seoul", services=[renewal, marriage, birth], horizon_days=14)
    busan = make_office("busan", services=[renewal], generate=False)
    busan.booking_open = False
    busan.booking_closed_message = {"en": "Closed for renovation."}
    db.session.commit()
    return {"seoul": seoul, "busan": busan, "renewal": renewal}


@pytest.fixture(scope="module")
def api() -> schemathesis.BaseSchema:
    """The document, loaded by schemathesis (the served one is the same, as tested below)."""
    return schemathesis.openapi.from_dict(openapi_document())


def assert_conforms(
    api: schemathesis.BaseSchema, method: str, path: str, response: TestResponse
) -> dict[str, Any]:
    """Check that the answer's status is documented, it is JSON, and its body matches."""
    documented = api[path][method].definition.raw["responses"]
    assert str(response.status_code) in documented, (
        f"{method} {path} answered {response.status_code}, documented: {sorted(documented)}"
    )
    assert response.mimetype == "application/json"
    api[path][method].validate_response(response)
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def assert_refused(
    api: schemathesis.BaseSchema, method: str, path: str, response: TestResponse, *errors: str
) -> dict[str, Any]:
    """Check that a request was refused without a server error, as documented."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    body = assert_conforms(api, method, path, response)
    assert body.get("error") in errors, body
    return body


def last_code(recipient: str) -> str:
    message = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "code")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert message is not None
    match = re.search(r"\b(\d{6})\b", message.text_body)
    assert match is not None
    return match.group(1)


def hold_body(
    offices: dict[str, Any],
    at: datetime = MONDAY_9,
    *,
    person: dict[str, Any] | None = None,
    **members: Any,
) -> dict[str, Any]:
    """A valid body to hold a passport renewal in Seoul, with some members replaced."""
    body = booking_body(
        offices["seoul"],
        [offices["renewal"]],
        at,
        applicant=person or {},
        details={"current_passport": {"expiry_date": "2027-03-01"}},
    )
    body.update(members)
    return body


def short(value: object) -> str:
    """A readable label for a test value, however long."""
    text = ascii(value)
    return text if len(text) <= 40 else f"{text[:30]}…({len(text)} chars)"


# The document


def test_the_document_is_valid_openapi_3_1(api) -> None:
    api.validate()  # against the OpenAPI 3.1 meta-schema
    assert api.raw_schema["openapi"] == "3.1.0"
    for name, schema in api.raw_schema["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name  # JSON Schema 2020-12
    operations = list(api.get_all_operations())
    assert len(operations) == 9
    assert all(result.ok() for result in operations)


def test_the_served_document_is_the_built_one_in_english(app, client) -> None:
    served = client.get(f"{API}/openapi.json", headers={"Accept-Language": "ru"})
    assert served.status_code == 200 and served.mimetype == "application/json"
    # Its defaults are the app's settings, but for proof of work, which the tests turn off.
    assert served.get_json() == openapi_document(proof_of_work=False)
    assert (
        served.get_json()["components"]["schemas"]["DetailsInput"]["properties"]["spouse"]["title"]
        == "Spouse"
    )


def test_the_served_document_gives_the_configured_passport_pattern(app, client) -> None:
    app.config["PASSPORT_PATTERN"] = "[A-Z]{2}[0-9]{7}"
    served = client.get(f"{API}/openapi.json").get_json()
    assert served == openapi_document(passport_pattern="[A-Z]{2}[0-9]{7}", proof_of_work=False)
    applicant = served["components"]["schemas"]["ApplicantInput"]
    assert "[A-Z]{2}[0-9]{7}" in applicant["properties"]["passport_number"]["description"]


def test_the_document_lists_every_route_of_the_api_and_no_other(app, api) -> None:
    routes = {
        # The document names the path parameters after what they are, not as the views do.
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API)))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{API}/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    routes = {(method, path.replace("{code}", "{office}")) for method, path in routes}
    documented = {
        (method.upper(), path) for path, item in api.raw_schema["paths"].items() for method in item
    }
    assert documented == routes


def test_every_operation_has_an_id_a_summary_and_a_description(api) -> None:
    operations = [op for item in api.raw_schema["paths"].values() for op in item.values()]
    assert all(op["summary"] and op["description"] for op in operations)
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))


# Each answer in the life of a booking, against the document


def test_offices_services_and_availability_conform(client, api, offices) -> None:
    body = assert_conforms(api, "GET", "/offices", client.get(f"{API}/offices"))
    assert [office["code"] for office in body["offices"]] == ["seoul", "busan"]
    assert body["offices"][1]["booking_closed_message"] == "Closed for renovation."

    path = "/offices/{office}/services"
    services = assert_conforms(api, "GET", path, client.get(f"{API}/offices/seoul/services"))
    assert [s["details"] for s in services["services"]] == [
        ["current_passport"],
        ["spouse"],
        ["child", "parents"],
    ]
    assert_refused(api, "GET", path, client.get(f"{API}/offices/nowhere/services"), "not_found")

    path = "/offices/{office}/availability"
    url = f"{API}/offices/seoul/availability?services=passport-renewal,marriage-registration"
    free = assert_conforms(api, "GET", path, client.get(url))
    assert free["slots"][0] == {
        "start": "2026-11-30T09:00:00+09:00",
        "end": "2026-11-30T09:45:00+09:00",
        "available": 2,
    }
    closed = client.get(f"{API}/offices/busan/availability?services=passport-renewal")
    assert assert_conforms(api, "GET", path, closed)["slots"] == []
    for query in ("services=nothing", "services=passport-renewal&from=2026-13-45"):
        response = client.get(f"{API}/offices/seoul/availability?{query}")
        assert_refused(api, "GET", path, response, "validation")
    response = client.get(f"{API}/offices/nowhere/availability")
    assert_refused(api, "GET", path, response, "not_found")


def test_a_booking_from_hold_to_cancel_conforms(client, api, offices) -> None:
    wednesday = MONDAY_9 + timedelta(days=2)  # after the 24-hour cut-off
    response = client.post(f"{API}/appointments", json=hold_body(offices, wednesday))
    assert response.status_code == 201
    held = assert_conforms(api, "POST", "/appointments", response)
    reference, good = held["reference"], {"Authorization": f"Bearer {held['manage_token']}"}

    response = client.get(f"{API}/appointments/{reference}", headers=good)
    shown = assert_conforms(api, "GET", "/appointments/{reference}", response)
    assert shown["status"] == "held" and shown["hold_expires_at"] is not None

    confirm, url = "/appointments/{reference}/confirm", f"{API}/appointments/{reference}/confirm"
    code = last_code("aigerim@example.com")
    wrong = "000000" if code != "000000" else "111111"
    body = assert_refused(
        api, "POST", confirm, client.post(url, json={"code": wrong}), "wrong_code"
    )
    assert body["attempts_left"] == 4
    body = assert_refused(api, "POST", confirm, client.post(url, json={"code": 1}), "validation")
    assert list(body["fields"]) == ["code"]
    body = assert_conforms(api, "POST", confirm, client.post(url, json={"code": code}))
    assert body["status"] == "confirmed" and body["hold_expires_at"] is None
    assert_refused(api, "POST", confirm, client.post(url, json={"code": code}), "not_found")

    cancel, url = "/appointments/{reference}/cancel", f"{API}/appointments/{reference}/cancel"
    response = client.post(url, json={"reason": 5}, headers=good)
    assert list(assert_refused(api, "POST", cancel, response, "validation")["fields"]) == ["reason"]
    response = client.post(url, json={"reason": "ill"}, headers=good)
    assert assert_conforms(api, "POST", cancel, response)["status"] == "cancelled"
    assert_refused(api, "POST", cancel, client.post(url, headers=good), "invalid_state")
    response = client.post(f"{API}/appointments/{reference}/confirm", json={"code": code})
    assert_refused(api, "POST", confirm, response, "not_found")


def test_refusals_of_a_hold_conform(client, api, offices, iins) -> None:
    path, url = "/appointments", f"{API}/appointments"
    for raw in ("[]", "null", "not json"):
        response = client.post(url, data=raw, content_type="application/json")
        assert_refused(api, "POST", path, response, "bad_request")
    body = assert_refused(api, "POST", path, client.post(url, json={}), "validation")
    assert {"office", "services", "start", "applicant"} <= set(body["fields"])

    first = hold_body(offices, person={"iin": next(iins)})
    held = client.post(url, json=first)
    assert held.status_code == 201
    reference = held.get_json()["reference"]
    code = last_code(first["applicant"]["email"])
    assert client.post(f"{url}/{reference}/confirm", json={"code": code}).status_code == 200
    again = hold_body(offices, MONDAY_9 + timedelta(hours=1), person=first["applicant"])
    body = assert_refused(api, "POST", path, client.post(url, json=again), "duplicate_booking")
    assert body["field"] == "services"
    second = hold_body(offices, person={"iin": next(iins)})
    assert client.post(url, json=second).status_code == 201  # the second of two desks
    third = hold_body(offices, person={"iin": next(iins)})
    assert_refused(api, "POST", path, client.post(url, json=third), "slot_unavailable")
    closed = hold_body(offices, person={"iin": next(iins)}, office="busan")
    assert_refused(api, "POST", path, client.post(url, json=closed), "booking_closed")


def test_a_hold_that_ran_out_conforms(client, api, offices, clock) -> None:
    held = client.post(f"{API}/appointments", json=hold_body(offices)).get_json()
    reference, good = held["reference"], {"Authorization": f"Bearer {held['manage_token']}"}
    clock.advance(minutes=11)
    response = client.get(f"{API}/appointments/{reference}", headers=good)
    assert assert_conforms(api, "GET", "/appointments/{reference}", response)["status"] == "expired"
    response = client.post(f"{API}/appointments/{reference}/confirm", json={"code": "123456"})
    assert_refused(api, "POST", "/appointments/{reference}/confirm", response, "not_found")
    response = client.post(f"{API}/appointments/{reference}/cancel", headers=good)
    assert_refused(api, "POST", "/appointments/{reference}/cancel", response, "invalid_state")


def test_cancelling_after_the_cutoff_conforms(client, api, offices) -> None:
    held = client.post(f"{API}/appointments", json=hold_body(offices)).get_json()
    response = client.post(
        f"{API}/appointments/{held['reference']}/cancel",
        headers={"Authorization": f"Bearer {held['manage_token']}"},
    )
    assert_refused(api, "POST", "/appointments/{reference}/cancel", response, "cutoff_passed")


def test_unknown_references_conform(client, api) -> None:
    for method, path in (
        ("GET", "/appointments/{reference}"),
        ("POST", "/appointments/{reference}/cancel"),
        ("POST", "/appointments/{reference}/confirm"),
    ):
        url = API + path.replace("{reference}", "TAB-ZZZZZZ")
        response = client.open(url, method=method, json={"code": "123456"})
        assert_refused(api, method, path, response, "not_found")


def test_a_method_a_path_does_not_list_is_405_json_with_allow(client, api) -> None:
    answer = api.raw_schema["components"]["responses"]["MethodNotAllowed"]
    schema = answer["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**api.raw_schema, **schema})
    for method, url, allowed in (
        ("DELETE", "/offices", "GET"),
        ("POST", "/offices/seoul/services", "GET"),
        ("PUT", "/appointments", "POST"),
        ("GET", "/appointments", "POST"),
        ("DELETE", "/appointments/TAB-ZZZZZZ", "GET"),
        ("GET", "/appointments/TAB-ZZZZZZ/cancel", "POST"),
    ):
        response = client.open(f"{API}{url}", method=method)
        assert response.status_code == 405 and response.mimetype == "application/json"
        assert allowed in response.headers["Allow"]
        validator.validate(response.get_json())


def test_too_many_holds_are_429_as_documented(app, database_url, clock, api) -> None:
    limited = create_app(
        base_config(database_url, clock)
        | {"RATELIMIT_ENABLED": True, "BOOKING_RATE_LIMIT": "2 per minute"}
    )
    client = limited.test_client()
    answers = [client.post(f"{API}/appointments", json={}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [422, 422, 429]
    assert_refused(api, "POST", "/appointments", answers[2], "rate_limited")


# Malformed requests: never a 500, always a JSON error that the document describes

# Long enough to overflow every column, short enough to pass the 256 KiB body limit.
HUGE = "x" * 100_000
ODD_TEXTS = [
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\udfff\ud800",
    "\u202eevil",
    "e\u0301\u0301\u0301",
    "🇰🇿👩‍👩‍👧",
    "\ufeff",
    "８５０５０２４０１２３８",
    "\n\t\r",
]
WRONG_VALUES = [None, 0, -1, 1.5, 1e308, True, [], {}, [[["deep"]]], {"a": {"b": []}}, "", HUGE]
BOOKING_MEMBERS = ["office", "services", "start", "language", "applicant", "details"]
APPLICANT_MEMBERS = ["given_name", "family_name", "iin", "passport_number", "email", "phone"]


def test_wrong_values_in_every_booking_member_are_refused(client, api, offices, subtests) -> None:
    url = f"{API}/appointments"
    for value in WRONG_VALUES + ODD_TEXTS:
        with subtests.test(short(value)):
            for member in BOOKING_MEMBERS:
                response = client.post(url, json=hold_body(offices, **{member: value}))
                assert_refused(api, "POST", "/appointments", response, "validation", "bad_request")
            for member in APPLICANT_MEMBERS:
                response = client.post(url, json=hold_body(offices, person={member: value}))
                assert_refused(api, "POST", "/appointments", response, "validation", "bad_request")


@pytest.mark.parametrize(
    "details",
    [
        {"current_passport": {"expiry_date": {"a": [1, {"b": None}]}}},
        {"current_passport": [1, 2, 3]},
        {"current_passport": "2027-03-01"},
        {"current_passport": {"expiry_date": ["2027-03-01"]}},
        {"current_passport": {"expiry_date": "2027-02-30"}},
        {"current_passport": {"expiry_date": "0001-01-01"}},
        {"current_passport": {"expiry_date": "9999-12-31"}},
        {"current_passport": {"expiry_date": "+002027-03-01"}},
        {"current_passport": {"expiry_date": HUGE}},
        {"current_passport": None, "spouse": {"iin": [[[[]]]]}},
        [[[[]]]],
        "details",
        {"\ud800": {"\u0000": "\ud800"}},
    ],
    ids=short,
)
def test_nested_garbage_in_details_is_refused(client, api, offices, details) -> None:
    response = client.post(f"{API}/appointments", json=hold_body(offices, details=details))
    assert_refused(api, "POST", "/appointments", response, "validation", "bad_request")


def test_invalid_or_extreme_start_times_are_refused(client, api, offices, subtests) -> None:
    for start in (
        "2026-13-45T09:00:00+09:00",
        "2026-02-30T09:00:00+09:00",
        "2026-11-30T25:00:00+09:00",
        "2026-11-30T09:00:00+24:00",
        "2026-11-30T09:00:00",  # no offset
        "2026-11-30",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59+14:00",
        "1900-01-01T09:00:00+09:00",
        "2200-01-01T09:00:00+09:00",
    ):
        with subtests.test(start):
            response = client.post(f"{API}/appointments", json=hold_body(offices, start=start))
            body = assert_refused(api, "POST", "/appointments", response, "validation")
            assert "start" in body["fields"]


def test_odd_but_valid_start_times_are_read_as_instants(client, api, offices, iins) -> None:
    for start, status in (
        ("2026-11-30 00:00Z", 201),  # Monday 09:00 in Seoul
        ("2026-11-30T00:00:00.000001+00:00", 409),  # a microsecond after a slot's start
        ("2026-11-30T09:00:00+23:59", 409),  # Sunday, closed
    ):
        body = hold_body(offices, start=start, person={"iin": next(iins)})
        response = client.post(f"{API}/appointments", json=body)
        assert response.status_code == status
        assert_conforms(api, "POST", "/appointments", response)


def test_bodies_that_are_not_json_objects_are_400(client, api, subtests) -> None:
    for raw in (
        "[" * 20_000 + "]" * 20_000,
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        '{"office": ' + "9" * 5000 + "}",
        '{"office": "seoul",}',
        b"\xff\xfe{}",
        '{"office": "\\ud800"}',
        '{"office": "\\u0000"}',
        '{"\\ud800": 1}',
    ):
        with subtests.test(short(raw)):
            for path, url in (
                ("/appointments", "/appointments"),
                ("/appointments/{reference}/confirm", "/appointments/TAB-ZZZZZZ/confirm"),
            ):
                response = client.post(f"{API}{url}", data=raw, content_type="application/json")
                assert_refused(api, "POST", path, response, "bad_request")


def test_odd_availability_queries_never_fail(client, api, offices, subtests) -> None:
    for query, error in (
        ("services=", "validation"),
        ("services=,,,", "validation"),
        ("services=a,a", "validation"),
        ("services=a,b,c,d,e,f", "validation"),
        ("services=%00", "validation"),
        ("services=passport-renewal%00", "validation"),
        ("services=" + "x" * 100_000, "validation"),
        ("services=%F0%9F%87%B0%F0%9F%87%BF", "validation"),
        ("services=%ED%A0%80", "validation"),
        ("services=passport-renewal&from=2026-13-45", "validation"),
        ("services=passport-renewal&from=2026-12-01&to=2026-11-30", "validation"),
        ("services=passport-renewal&from=2026-01-01&to=2026-12-31", "validation"),
        ("services=passport-renewal&to=0001-01-01", "validation"),
        ("services=passport-renewal&from=%00", "validation"),
        ("services=passport-renewal&from=" + "9" * 10_000, "validation"),
        ("services=passport-renewal&from=9999-12-31", None),
        ("services=passport-renewal&from=0001-01-01", None),
        ("services=passport-renewal&from=0001-01-01&to=0001-01-02", None),
        ("services=passport-renewal&from=9999-12-30&to=9999-12-31", None),
        ("services=passport-renewal&services=x&from=2026-11-30&from=x", None),
    ):
        with subtests.test(short(query)):
            response = client.get(f"{API}/offices/seoul/availability?{query}")
            if error is None:
                assert response.status_code == 200
                assert_conforms(api, "GET", "/offices/{office}/availability", response)
            else:
                assert_refused(api, "GET", "/offices/{office}/availability", response, error)


def test_odd_office_codes_are_404(client, api, offices, subtests) -> None:
    for office in ("%00", "a%00b", "%ED%A0%80", "x" * 10_000, "%F0%9F%87%B0", "SEOUL", "seoul%20"):
        with subtests.test(short(office)):
            for path in ("/offices/{office}/services", "/offices/{office}/availability"):
                url = API + path.replace("{office}", office) + "?services=passport-renewal"
                assert_refused(api, "GET", path, client.get(url), "not_found")


def test_bad_authorization_headers_are_the_same_404(client, api, offices, subtests) -> None:
    held = client.post(f"{API}/appointments", json=hold_body(offices)).get_json()
    reference, token = held["reference"], held["manage_token"]
    for header in (
        "",
        "Bearer",
        "Bearer ",
        "bearer    ",
        f"Basic {token}",
        f"Token {token}",
        f"Bearer {token}x",
        f"Bearer {token[:-1]}",
        f"Bearer\t{token}",
        f"Bearer {token} {token}",
        "Bearer " + "x" * 100_000,
        "Bearer \x00",
        "Bearer ÿÿÿ",
    ):
        with subtests.test(short(header)):
            for method, path in (
                ("GET", "/appointments/{reference}"),
                ("POST", "/appointments/{reference}/cancel"),
            ):
                url = API + path.replace("{reference}", reference)
                response = client.open(url, method=method, headers={"Authorization": header})
                assert_refused(api, method, path, response, "not_found")
    lower = client.get(
        f"{API}/appointments/{reference.lower()}", headers={"Authorization": f"bearer {token}"}
    )
    assert lower.status_code == 200  # the scheme and the reference are read case-insensitively


def test_odd_references_are_404(client, api, offices, subtests) -> None:
    for reference in ("%00", "TABZZZZZZ", "x" * 10_000, "%ED%A0%80", "TAB-ZZZZZ%00", "TAB-OOOOOO"):
        with subtests.test(short(reference)):
            for method, path in (
                ("GET", "/appointments/{reference}"),
                ("POST", "/appointments/{reference}/cancel"),
                ("POST", "/appointments/{reference}/confirm"),
            ):
                response = client.open(
                    API + path.replace("{reference}", reference),
                    method=method,
                    json={"code": "123456"},
                    headers={"Authorization": "Bearer abc"},
                )
                assert_refused(api, method, path, response, "not_found")


def test_odd_codes_and_reasons_are_refused(client, api, offices, subtests) -> None:
    held = client.post(f"{API}/appointments", json=hold_body(offices)).get_json()
    reference, good = held["reference"], {"Authorization": f"Bearer {held['manage_token']}"}
    confirm, cancel = "/appointments/{reference}/confirm", "/appointments/{reference}/cancel"
    for value in [*WRONG_VALUES, *ODD_TEXTS, "１２３４５６", " 12345 ", "12345６"]:
        with subtests.test(short(value)):
            url = f"{API}/appointments/{reference}/confirm"
            response = client.post(url, json={"code": value})
            # After five wrong codes the hold is released, and later codes find it ended.
            errors = ("wrong_code", "validation", "bad_request", "not_found")
            assert_refused(api, "POST", confirm, response, *errors)
            url = f"{API}/appointments/{reference}/cancel"
            response = client.post(url, json={"reason": value}, headers=good)
            errors = ("validation", "cutoff_passed", "invalid_state")
            assert_refused(api, "POST", cancel, response, *errors)


def test_a_reason_that_cannot_be_stored_is_refused_before_cancelling(client, api, offices) -> None:
    body = hold_body(offices, MONDAY_9 + timedelta(days=2))  # after the cut-off
    held = client.post(f"{API}/appointments", json=body).get_json()
    good = {"Authorization": f"Bearer {held['manage_token']}"}
    path, url = "/appointments/{reference}/cancel", f"{API}/appointments/{held['reference']}/cancel"
    for reason in ("ill\u0000", "\ud800"):
        response = client.post(url, json={"reason": reason}, headers=good)
        assert_refused(api, "POST", path, response, "validation")
    response = client.post(url, json={"reason": "ill " * 1000}, headers=good)
    assert assert_conforms(api, "POST", path, response)["status"] == "cancelled"


# Generated requests for every operation, on a database with offices and services

FUZZ = schemathesis.openapi.from_dict(
    openapi_document(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": 30},
            # Every check about the answers; none that guess what the API should accept.
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
                "response_headers_conformance": {"enabled": True},
                "unsupported_method": {"enabled": True},
                "allow_header_conformance": {"enabled": True},
            },
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


@pytest.fixture
def served(app: Flask, offices) -> Flask:
    """The app with Seoul's services in its database, for generated requests."""
    return app


# `schemathesis.pytest.from_fixture` fails on pytest 9 (it sets `Function._nodeid`), so the
# schema is built at import and the app comes from a fixture, shared by one operation's examples.
@FUZZ.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_answer_to_generated_requests_conforms(case, served) -> None:
    case.call_and_validate(app=served)


def test_a_body_over_the_size_limit_is_413_json(client, served) -> None:
    """A body larger than MAX_CONTENT_LENGTH is refused before it is read."""
    response = client.post(
        "/api/v1/appointments",
        data='{"office": "' + "x" * 300_000 + '"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


def test_the_schemas_are_generated_from_the_models() -> None:
    schemas = openapi_document()["components"]["schemas"]
    request = BookingRequestBody.model_json_schema(ref_template="#/components/schemas/{model}")
    assert schemas["BookingRequest"]["properties"]["services"] == request["properties"]["services"]
    assert list(schemas["BookingRequest"]["properties"]) == list(request["properties"])
    assert schemas["BookingRequest"]["properties"]["services"]["maxItems"] == (
        MAX_SERVICES_PER_VISIT
    )
    assert set(schemas["Appointment"]["required"]) == set(schemas_module.Appointment.model_fields)
