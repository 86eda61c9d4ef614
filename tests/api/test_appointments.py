"""The appointments API: hold, confirm, show, cancel, with every status it can answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, OutboxMessage, Slot, Status
from tests.conftest import booking_body
from tests.statements import counted_statements

# Monday 2026-11-30 09:00 in Seoul.
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


@pytest.fixture
def visit(make_office, make_service):
    service = make_service("passport-renewal", detail_sets=["current_passport"])
    office = make_office("seoul", services=[service])
    return office, service


def _body(office, service, start=MONDAY_9, **overrides):
    overrides.setdefault("details", {"current_passport": {"expiry_date": "2027-03-01"}})
    return booking_body(office, [service], start, **overrides)


def last_code(recipient: str) -> str:
    message = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "code")
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert message is not None
    return re.search(r"\b(\d{6})\b", message.text_body).group(1)


def test_hold_answers_201_with_reference_and_token(client, visit) -> None:
    office, service = visit
    response = client.post("/api/v1/appointments", json=_body(office, service))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "held"
    assert re.fullmatch(r"TA[A-Z]-[2-9A-HJKMNP-Z]{6}", body["reference"])
    assert len(body["manage_token"]) >= 22  # 32 random bytes, URL-safe base64
    assert body["hold_expires_at"] == "2026-11-29T12:10:00+09:00"
    assert body["start"] == "2026-11-30T09:00:00+09:00"
    appointment = db.session.scalar(sa.select(Appointment))
    assert appointment.phone == "+821012345678"
    assert body["manage_token"] not in str(
        db.session.execute(sa.text("SELECT * FROM manage_token")).all()
    )


def test_the_code_email_is_queued_in_the_same_transaction(client, visit) -> None:
    office, service = visit
    client.post("/api/v1/appointments", json=_body(office, service))
    messages = db.session.scalars(sa.select(OutboxMessage)).all()
    assert [m.kind for m in messages] == ["code"]
    assert messages[0].recipient == "aigerim@example.com"


def test_confirm_with_the_right_code(client, visit) -> None:
    office, service = visit
    reference = client.post("/api/v1/appointments", json=_body(office, service)).get_json()[
        "reference"
    ]
    response = client.post(
        f"/api/v1/appointments/{reference}/confirm", json={"code": last_code("aigerim@example.com")}
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "confirmed"
    kinds = db.session.scalars(sa.select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds == ["code", "confirmation"]


def test_wrong_code_is_422_and_five_wrong_codes_release_the_hold(client, visit) -> None:
    office, service = visit
    reference = client.post("/api/v1/appointments", json=_body(office, service)).get_json()[
        "reference"
    ]
    right = last_code("aigerim@example.com")
    wrong = "000000" if right != "000000" else "111111"
    lefts = []
    for _ in range(5):
        response = client.post(f"/api/v1/appointments/{reference}/confirm", json={"code": wrong})
        assert response.status_code == 422
        assert response.get_json()["error"] == "wrong_code"
        lefts.append(response.get_json()["attempts_left"])
    assert lefts == [4, 3, 2, 1, 0]
    after = client.post(f"/api/v1/appointments/{reference}/confirm", json={"code": right})
    assert after.status_code == 404
    assert after.get_json()["error"] == "not_found"
    assert db.session.scalars(sa.select(Slot.booked).where(Slot.starts_at == MONDAY_9)).all() == [0]


def test_duplicate_booking_is_409(client, visit) -> None:
    office, service = visit
    first = client.post("/api/v1/appointments", json=_body(office, service))
    assert first.status_code == 201
    reference = first.get_json()["reference"]
    code = last_code("aigerim@example.com")
    confirmed = client.post(f"/api/v1/appointments/{reference}/confirm", json={"code": code})
    assert confirmed.status_code == 200  # a booking takes the place; a hold does not
    again = client.post(
        "/api/v1/appointments",
        json=booking_body(
            office,
            [service],
            MONDAY_9.replace(hour=1),
            details={"current_passport": {"expiry_date": "2027-03-01"}},
        ),
    )
    assert again.status_code == 409
    assert again.get_json()["error"] == "duplicate_booking"


def test_full_slot_is_409_slot_unavailable(client, visit, iins) -> None:
    office, service = visit
    for _ in range(2):  # two desks
        body = _body(office, service, applicant={"iin": next(iins)})
        assert client.post("/api/v1/appointments", json=body).status_code == 201
    third = client.post(
        "/api/v1/appointments", json=_body(office, service, applicant={"iin": next(iins)})
    )
    assert third.status_code == 409
    assert third.get_json()["error"] == "slot_unavailable"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 2


def _fill_monday_9(client, office, service, iins) -> None:
    for _ in range(2):  # two desks
        body = _body(office, service, applicant={"iin": next(iins)})
        assert client.post("/api/v1/appointments", json=body).status_code == 201


def test_a_full_start_is_refused_in_one_read_before_the_rest_is_checked(
    client, visit, iins
) -> None:
    office, service = visit
    _fill_monday_9(client, office, service, iins)
    # Even a body that is wrong elsewhere: the time is gone whatever else it says.
    body = _body(office, service, applicant={"iin": next(iins), "email": "not an address"})
    with counted_statements() as statements:
        answer = client.post("/api/v1/appointments", json=body)
    assert answer.status_code == 409
    assert answer.get_json() == {
        "error": "slot_unavailable",
        "message": "Someone else has just taken this time. Please choose another.",
        "field": "start",
    }
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1
    assert len(statements) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 2


def test_a_full_start_whose_seat_is_due_back_is_not_refused_early(
    client, clock, visit, iins
) -> None:
    office, service = visit
    _fill_monday_9(client, office, service, iins)
    clock.advance(minutes=11)  # both holds (10 minutes) have run out, unconfirmed
    body = _body(office, service, applicant={"iin": next(iins)})
    assert client.post("/api/v1/appointments", json=body).status_code == 201
    statuses = db.session.scalars(sa.select(Appointment.status).order_by(Appointment.id)).all()
    assert statuses == [Status.EXPIRED, Status.EXPIRED, Status.HELD]


@pytest.mark.parametrize(
    "office_code, start, status, error",
    [
        ("nowhere", "2026-11-30T09:00:00+09:00", 422, "validation"),  # no such office
        ("seoul", "2026-11-30T09:00:00", 422, "validation"),  # no offset
        ("seoul", 42, 422, "validation"),
        (None, "2026-11-30T09:00:00+09:00", 422, "validation"),
        ("seoul", "2026-11-30T09:07:00+09:00", 409, "slot_unavailable"),  # no slot then
    ],
)
def test_what_the_early_refusal_cannot_read_goes_to_the_full_check(
    client, visit, iins, office_code, start, status, error
) -> None:
    office, service = visit
    _fill_monday_9(client, office, service, iins)
    body = {**_body(office, service, applicant={"iin": next(iins)}), "start": start}
    body["office"] = office_code
    answer = client.post("/api/v1/appointments", json=body)
    assert (answer.status_code, answer.get_json()["error"]) == (status, error)
    if status == 409:
        assert "no appointment time" in answer.get_json()["message"]


def test_validation_errors_name_each_field(client, visit) -> None:
    office, service = visit
    body = _body(
        office,
        service,
        applicant={"iin": "900101300127", "email": "nope", "phone": "12", "given_name": "Жан"},
        details={"current_passport": {"expiry_date": "soon"}},
    )
    response = client.post("/api/v1/appointments", json=body)
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert set(fields) == {
        "applicant.iin",
        "applicant.email",
        "applicant.phone",
        "applicant.given_name",
        "details.current_passport.expiry_date",
    }
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0


@pytest.mark.parametrize("raw", ["[]", '"text"', "not json", "", "null", "123"])
def test_a_body_that_is_not_a_json_object_is_400(client, visit, raw) -> None:
    response = client.post("/api/v1/appointments", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


def test_show_and_cancel_need_the_manage_token(client, visit) -> None:
    office, service = visit
    wednesday = MONDAY_9 + timedelta(days=2)  # after the 24-hour cut-off
    held = client.post("/api/v1/appointments", json=_body(office, service, wednesday)).get_json()
    reference, token = held["reference"], held["manage_token"]
    good = {"Authorization": f"Bearer {token}"}
    shown = client.get(f"/api/v1/appointments/{reference}", headers=good)
    assert shown.status_code == 200
    assert shown.get_json()["applicant"]["iin"] == "850502401238"

    wrong_token = client.get(
        f"/api/v1/appointments/{reference}", headers={"Authorization": "Bearer x" * 3}
    )
    unknown = client.get("/api/v1/appointments/TAB-ZZZZZZ", headers=good)
    no_token = client.get(f"/api/v1/appointments/{reference}")
    assert wrong_token.status_code == unknown.status_code == no_token.status_code == 404
    assert wrong_token.get_json() == unknown.get_json() == no_token.get_json()

    assert client.post(f"/api/v1/appointments/{reference}/cancel").status_code == 404
    cancelled = client.post(
        f"/api/v1/appointments/{reference}/cancel", headers=good, json={"reason": "ill"}
    )
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    # Once cancelled, the link shows the visit and the name, never the identity documents
    # (issue 13, finding 8).
    for answer in (cancelled, client.get(f"/api/v1/appointments/{reference}", headers=good)):
        applicant = answer.get_json()["applicant"]
        assert applicant["given_name"] and applicant["family_name"]
        assert [applicant[k] for k in ("iin", "passport_number", "email", "phone")] == [None] * 4
        assert answer.get_json()["details"] == {}
        assert "850502401238" not in answer.text
    again = client.post(f"/api/v1/appointments/{reference}/cancel", headers=good)
    assert again.status_code == 409
    assert db.session.scalar(sa.select(Appointment.status)) == Status.CANCELLED


def test_unknown_office_is_404_and_unknown_route_is_json(client, visit) -> None:
    assert client.get("/api/v1/offices/nowhere/services").status_code == 404
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert client.delete("/api/v1/offices").get_json()["error"] == "method_not_allowed"


def test_cancel_after_the_cutoff_is_refused(client, visit) -> None:
    office, service = visit
    held = client.post("/api/v1/appointments", json=_body(office, service)).get_json()
    response = client.post(
        f"/api/v1/appointments/{held['reference']}/cancel",
        headers={"Authorization": f"Bearer {held['manage_token']}"},
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "cutoff_passed"


def test_six_services_are_refused_in_the_request_language(client, make_office, make_service):
    six = [make_service() for _ in range(6)]
    office = make_office(services=six)
    body = booking_body(office, six, MONDAY_9)
    response = client.post("/api/v1/appointments", json=body, headers={"Accept-Language": "ru"})
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert list(fields) == ["services"]
    assert fields["services"] == ["Выберите от одной до пяти услуг."]
    codes = ",".join(s.code for s in six)
    free = client.get(f"/api/v1/offices/{office.code}/availability?services={codes}")
    assert free.status_code == 422 and list(free.get_json()["fields"]) == ["services"]


def test_a_constraint_tripped_meanwhile_is_409_and_nothing_is_half_made(
    client, visit, monkeypatch
) -> None:
    from consular.services import booking
    from tests.test_transaction import collide

    real = booking.place_hold

    def hold_then_collide(*args, **kwargs):
        placed = real(*args, **kwargs)  # the appointment, its seats and its email are written
        collide()
        return placed

    monkeypatch.setattr(booking, "place_hold", hold_then_collide)
    office, service = visit
    response = client.post("/api/v1/appointments", json=_body(office, service))
    assert response.status_code == 409
    assert response.get_json()["error"] == "concurrent_change"
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert db.session.scalar(sa.select(sa.func.sum(Slot.booked))) == 0


def test_confirming_answers_alike_for_every_reference_without_a_waiting_hold(
    client, visit, clock, iins
) -> None:
    """No existence oracle (issue 13, finding 7): unknown, confirmed, cancelled and ended
    references get one and the same answer."""
    office, service = visit
    confirmed = client.post(
        "/api/v1/appointments", json=_body(office, service, applicant={"iin": next(iins)})
    ).get_json()
    code = last_code("aigerim@example.com")
    path = "/api/v1/appointments/{}/confirm"
    assert client.post(path.format(confirmed["reference"]), json={"code": code}).status_code == 200
    cancelled = client.post(
        "/api/v1/appointments",
        json=_body(office, service, MONDAY_9 + timedelta(days=3), applicant={"iin": next(iins)}),
    ).get_json()
    token = {"Authorization": f"Bearer {cancelled['manage_token']}"}
    client.post(
        path.format(cancelled["reference"]), json={"code": last_code("aigerim@example.com")}
    )
    assert (
        client.post(
            f"/api/v1/appointments/{cancelled['reference']}/cancel", headers=token
        ).status_code
        == 200
    )
    ended = client.post(
        "/api/v1/appointments",
        json=_body(office, service, MONDAY_9 + timedelta(days=1), applicant={"iin": next(iins)}),
    ).get_json()
    clock.advance(minutes=30)
    prefix = confirmed["reference"].split("-")[0]
    answers = []
    for reference in (
        confirmed["reference"],
        cancelled["reference"],
        ended["reference"],
        f"{prefix}-ZZZZZZ",
    ):
        response = client.post(path.format(reference), json={"code": "123456"})
        answers.append((response.status_code, response.get_json()))
    assert answers[0][0] == 404 and answers[0][1]["error"] == "not_found"
    assert all(answer == answers[0] for answer in answers), answers
    # The ended hold's seats went back on sale as it was answered.
    ended_row = db.session.scalar(
        sa.select(Appointment).where(Appointment.reference == ended["reference"])
    )
    db.session.refresh(ended_row)
    assert ended_row.status == Status.EXPIRED
