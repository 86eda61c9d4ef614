"""The booking request schema: what it accepts, and the messages it refuses with.

One schema checks the web form and the API alike; its messages are ours, translated, by the
dotted path of each member. Read top to bottom as the specification.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask_babel import force_locale

from consular.extensions import db
from consular.services import booking
from consular.services.booking_request import (
    MAX_SERVICES_PER_VISIT,
    parse_booking_request,
    service_codes_problem,
)
from consular.services.errors import ValidationFailed
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)
# 23:30 UTC on 1 December is 08:30 on 2 December in Seoul: the two calendars differ.
LATE_UTC = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
VISIT = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # Monday 09:00 in Seoul
CHILD = {"given_name": "Aru", "family_name": "Nurlanova", "birth_place": "Seoul"}


@pytest.fixture
def birth(make_office, make_service):
    service = make_service("birth-registration", detail_sets=["child"])
    return make_office("seoul", services=[service], generate=False), service


def parse(body, now=LATE_UTC):
    return parse_booking_request(db.session, body, now, POLICY)


def test_the_request_is_read_into_the_office_services_time_and_clean_applicant(birth) -> None:
    office, service = birth
    body = booking_body(
        office,
        [service],
        VISIT,
        applicant={"given_name": "  Aigerim ", "phone": "010-1234-5678"},
        details={"child": CHILD | {"birth_date": "2026-11-30"}},
    )
    request = parse(body)
    assert request.office is office and request.services == [service]
    assert request.starts_at == VISIT
    assert request.applicant.given_name == "Aigerim"
    assert request.applicant.phone == "+821012345678"
    assert request.details["child"]["birth_date"] == "2026-11-30"


def test_booking_still_offers_the_same_names() -> None:
    assert booking.parse_booking_request is parse_booking_request
    assert booking.MAX_SERVICES_PER_VISIT == MAX_SERVICES_PER_VISIT


# Defect 5: "today" is the office's date, not UTC's


def test_a_child_born_today_in_korea_is_accepted_before_utc_midnight(birth) -> None:
    office, service = birth
    body = booking_body(
        office, [service], VISIT, details={"child": CHILD | {"birth_date": "2026-12-02"}}
    )
    assert parse(body).details["child"]["birth_date"] == "2026-12-02"


def test_a_birth_date_after_today_in_korea_is_refused(birth) -> None:
    office, service = birth
    body = booking_body(
        office, [service], VISIT, details={"child": CHILD | {"birth_date": "2026-12-03"}}
    )
    with pytest.raises(ValidationFailed) as error:
        parse(body)
    assert error.value.fields == {"details.child.birth_date": ["Enter a date in the past."]}


def test_detail_errors_are_reported_with_an_unknown_office(birth) -> None:
    office, service = birth
    body = booking_body(office, [service], VISIT, details=[1]) | {"office": "nowhere"}
    with pytest.raises(ValidationFailed) as error:
        parse(body)
    assert error.value.fields == {
        "office": ["Choose one of the offices."],
        "details": ["Details must be an object."],
    }


# Defect 6: one rule for how many services a visit may have


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ([], "Choose between one and five services."),
        (["a"], None),
        (["a", "b", "c", "d", "e"], None),
        (["a", "b", "c", "d", "e", "f"], "Choose between one and five services."),
        (["a", "a"], "Choose each service only once."),
    ],
)
def test_how_many_services_a_visit_may_have(app, codes, message) -> None:
    assert service_codes_problem(codes) == message


def test_six_services_are_refused_not_cut_to_five(make_office, make_service) -> None:
    services = [make_service() for _ in range(6)]
    office = make_office(services=services, generate=False)
    with pytest.raises(ValidationFailed) as error:
        parse(booking_body(office, services, VISIT))
    assert error.value.fields == {"services": ["Choose between one and five services."]}
    assert parse(booking_body(office, services[:5], VISIT)).services == services[:5]


# Pydantic's own messages never reach a citizen


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"office": 5, "services": "x", "start": None, "language": [], "applicant": "me"},
        {"applicant": {"given_name": 1, "iin": None}, "services": [1, None]},
        {"applicant": {}, "details": "x", "start": {"a": 1}},
    ],
)
def test_every_refusal_is_one_of_our_translated_messages(birth, body) -> None:
    with force_locale("ru"), pytest.raises(ValidationFailed) as error:
        parse(body)
    messages = [message for found in error.value.fields.values() for message in found]
    assert messages
    assert all(any("а" <= c.lower() <= "я" for c in message) for message in messages), messages
    assert not any("Input should" in m or "Field required" in m for m in messages)


def test_missing_members_are_named_each_with_its_message(birth) -> None:
    with pytest.raises(ValidationFailed) as error:
        parse({"applicant": {}})
    fields = error.value.fields
    assert set(fields) == {
        "office",
        "services",
        "start",
        "applicant.given_name",
        "applicant.family_name",
        "applicant.iin",
        "applicant.passport_number",
        "applicant.email",
        "applicant.phone",
    }
    assert fields["applicant.iin"] == ["Enter a valid 12-digit IIN."]
