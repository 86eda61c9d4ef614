"""Looking a booking up by reference and IIN can't be brute-forced from many addresses, and
the citizen hears of wrong tries (issue 13, finding 6)."""

from __future__ import annotations

import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, OutboxMessage
from consular.services.booking import LOOKUP_MAX_FAILURES
from tests.booking.test_journey_pages import book_visit
from tests.booking.test_journey_pages import office as office  # the fixture

RIGHT_IIN = "850502401238"
WRONG_IINS = ["900101300126", "870203400131", "750304350014", "010101500010", "920202450017"]


def _alerts() -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.kind == "lookup_alert")
            .order_by(OutboxMessage.id)
        )
    )


def _try(app, reference: str, iin: str, address: str):
    client = app.test_client()
    return client, client.post(
        "/manage", data={"reference": reference, "iin": iin}, environ_base={"REMOTE_ADDR": address}
    )


def test_wrong_iins_from_many_addresses_pause_the_look_up_and_the_citizen_is_told(
    client, office, app, clock
) -> None:
    reference = book_visit(client)
    for number, iin in enumerate(WRONG_IINS[:LOOKUP_MAX_FAILURES]):
        _, response = _try(app, reference, iin, f"198.51.100.{number + 1}")
        assert response.status_code == 422 and "No appointment matches" in response.text
    [alert] = _alerts()
    assert alert.recipient == "aigerim@example.com"
    assert reference in alert.subject
    assert "There were 5 wrong tries" in alert.text_body
    assert "paused for 24\u00a0hours" in alert.text_body
    # Paused: even the right IIN gets the same answer as an unknown reference, from anywhere.
    _, paused = _try(app, reference, RIGHT_IIN, "203.0.113.9")
    _, unknown = _try(app, "SEL-ZZZZZZ", RIGHT_IIN, "203.0.113.9")
    assert paused.status_code == unknown.status_code == 422
    assert "No appointment matches" in paused.text
    assert len(_alerts()) == 1  # told once, when the pause began
    # A day later the right IIN opens it again.
    clock.advance(hours=24, minutes=1)
    opener, opened = _try(app, reference, RIGHT_IIN, "203.0.113.9")
    assert opened.status_code == 302
    assert opener.get(opened.headers["Location"]).status_code == 200
    assert db.session.scalar(sa.select(Appointment.lookup_failures)) == 0


def test_opening_after_wrong_tries_tells_the_citizen_how_many(client, office, app) -> None:
    reference = book_visit(client)
    for iin in WRONG_IINS[:2]:
        _try(app, reference, iin, "198.51.100.7")
    assert _alerts() == []
    _, opened = _try(app, reference, RIGHT_IIN, "198.51.100.8")
    assert opened.status_code == 302
    [alert] = _alerts()
    assert "After 2 wrong tries, your booking was opened with the right IIN" in alert.text_body
    # The count starts again: a later right look-up alone tells nobody.
    _try(app, reference, RIGHT_IIN, "198.51.100.8")
    assert len(_alerts()) == 1


def test_a_right_look_up_without_wrong_tries_sends_nothing(client, office, app) -> None:
    reference = book_visit(client)
    _, opened = _try(app, reference, RIGHT_IIN, "198.51.100.8")
    assert opened.status_code == 302 and _alerts() == []


def test_an_erased_or_odd_iin_never_matches(client, office, app) -> None:
    reference = book_visit(client)
    for odd in ("", " ", "８５０５０２４０１２３８", "85050240123x", "é" * 12):
        _, response = _try(app, reference, odd, "198.51.100.9")
        assert response.status_code == 422
