"""The review of suspicious bookings through the app: the hold views record where each hold
came from; managers read the clusters of their offices, administrators those of all offices;
only administrators cancel, after a confirmation step with a message in each language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentOrigin,
    AuditEntry,
    OutboxMessage,
    ServiceType,
    Status,
)
from consular.services import suspicion
from consular.services.suspicion import Signal
from tests.admin.conftest import sign_in
from tests.conftest import SECRET, booking_body

MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
BOT_NETWORK = "198.51.100.0/24"
BOT_PHONE = "+821055550001"


def starts() -> Iterator[datetime]:
    """Start times on Monday and Tuesday mornings, each used once."""
    for day in range(2):
        for quarter in range(14):
            yield MONDAY_9 + timedelta(days=day, minutes=15 * quarter)


@pytest.fixture
def hold_through_api(app, offices, iins):
    """Hold a visit through the JSON API from an address; return its appointment."""
    seoul, busan = offices
    times = {"seoul": starts(), "busan": starts()}
    client = app.test_client()

    def hold(office: str = "seoul", *, address: str, **applicant: Any) -> Appointment:
        place = seoul if office == "seoul" else busan
        service = db.session.scalar(sa.select(ServiceType))
        language = applicant.pop("language", "en")
        body = booking_body(
            place,
            [service],
            next(times[office]),
            applicant={"iin": next(iins), **applicant},
            language=language,
        )
        answer = client.post(
            "/api/v1/appointments",
            json=body,
            environ_base={"REMOTE_ADDR": address},
            headers={"User-Agent": "Script/2.0"},
        )
        assert answer.status_code == 201, answer.get_json()
        found = db.session.scalar(
            sa.select(Appointment).where(Appointment.reference == answer.get_json()["reference"])
        )
        assert found is not None
        return found

    return hold


@pytest.fixture
def bots(hold_through_api) -> dict[str, list[Appointment]]:
    """A bot's holds from one network, two at Seoul and two at Busan, in four languages; and
    two Busan holds that share a phone number from two networks."""
    network = [
        hold_through_api(
            office,
            address=f"198.51.100.{n + 10}",
            email=f"bot{n}@gmail.com",
            phone=f"010-7000-{n:04d}",
            language=language,
        )
        for n, (office, language) in enumerate(
            [("seoul", "kk"), ("seoul", "ru"), ("busan", "en"), ("busan", "ko")]
        )
    ]
    phone = [
        hold_through_api("busan", address=address, email=f"p{n}@naver.com", phone=BOT_PHONE)
        for n, address in enumerate(["192.0.2.1", "203.0.113.50"])
    ]
    return {"network": network, "phone": phone}


def _client(app, accounts, who: str) -> FlaskClient:
    client = app.test_client()
    if who != "anonymous":
        assert sign_in(client, accounts[who].email).status_code == 302
    return client


def _key(signal: Signal, value: str) -> str:
    return suspicion.cluster_key(SECRET, signal, value)


# Where the holds came from


HOLD_FORM = {
    "given_name": "Aigerim",
    "family_name": "Nurlanova",
    "passport_number": "N12345678",
    "email": "aigerim@example.com",
    "phone": "010-1234-5678",
    "services": "passport-renewal",
}


def test_the_page_hold_records_its_origin_and_the_journey_time(app, offices, clock, iins):
    browser = app.test_client()
    seen_from = {"REMOTE_ADDR": "203.0.113.7"}
    headers = {"User-Agent": "Phone/1.0"}
    assert browser.get("/book/seoul", environ_base=seen_from).status_code == 200
    clock.advance(seconds=30)
    assert browser.get("/book/seoul/time?services=passport-renewal").status_code == 200
    clock.advance(seconds=12.5)
    form = HOLD_FORM | {"iin": next(iins), "start": MONDAY_9.isoformat()}
    form["device_fingerprint"] = "a1b2c3d4e5f60718"
    held = browser.post("/book/seoul/hold", data=form, environ_base=seen_from, headers=headers)
    assert held.status_code == 302, held.text
    first = db.session.scalars(sa.select(AppointmentOrigin)).one()
    assert (first.network, first.seconds, first.email_domain) == (
        "203.0.113.0/24",
        42,
        "example.com",
    )
    assert first.fingerprint == suspicion.keyed_hash(SECRET, "fingerprint", "a1b2c3d4e5f60718")
    assert first.user_agent_hash == suspicion.keyed_hash(SECRET, "user-agent", "Phone/1.0")

    # The same browser's next hold is timed from its last one, pages or none.
    clock.advance(seconds=5)
    form = HOLD_FORM | {"iin": next(iins), "start": (MONDAY_9 + timedelta(hours=1)).isoformat()}
    assert browser.post("/book/seoul/hold", data=form, environ_base=seen_from).status_code == 302
    second = db.session.scalars(
        sa.select(AppointmentOrigin).where(AppointmentOrigin.appointment_id != first.appointment_id)
    ).one()
    assert second.seconds == 5 and second.fingerprint is None

    # A browser that saw no page of the journey: the time is unknown.
    form = HOLD_FORM | {"iin": next(iins), "start": (MONDAY_9 + timedelta(hours=2)).isoformat()}
    assert app.test_client().post("/book/seoul/hold", data=form).status_code == 302
    seconds = db.session.scalars(sa.select(AppointmentOrigin.seconds)).all()
    assert sorted(seconds, key=lambda s: -1 if s is None else s) == [None, 5, 42]


def test_a_refused_hold_records_nothing(app, offices, iins, hold_through_api) -> None:
    appointment = hold_through_api(address="203.0.113.9", email="a@example.com")
    again = app.test_client().post(
        "/api/v1/appointments",
        json=booking_body(
            offices[0],
            [db.session.scalar(sa.select(ServiceType))],
            appointment.starts_at,
            applicant={"iin": appointment.iin, "passport_number": "not a passport"},
        ),
    )
    assert again.status_code == 422
    assert db.session.scalars(sa.select(AppointmentOrigin.appointment_id)).all() == [appointment.id]


def test_the_api_hold_records_its_origin(hold_through_api) -> None:
    appointment = hold_through_api(address="2001:db8:1:2:3:4:5:6", email="A@Bot.Example.KZ")
    origin = db.session.get(AppointmentOrigin, appointment.id)
    assert origin is not None
    assert (origin.network, origin.email_domain, origin.email_base_domain) == (
        "2001:db8:1:2::/64",
        "bot.example.kz",
        "example.kz",
    )
    assert (origin.seconds, origin.fingerprint, origin.is_public_domain) == (None, None, False)
    assert origin.user_agent_hash == suspicion.keyed_hash(SECRET, "user-agent", "Script/2.0")


# Who may see and cancel


def review_urls(signal: str = "network", key: str = "0" * 24) -> list[tuple[str, str]]:
    return [
        ("GET", "/admin/review"),
        ("GET", f"/admin/review/{signal}/{key}"),
        ("POST", f"/admin/review/{signal}/{key}/cancel"),
    ]


@pytest.mark.parametrize(
    ("who", "statuses"),
    [
        ("anonymous", (302, 302, 302)),
        ("clerk_seoul", (403, 403, 403)),
        ("clerk_busan", (403, 403, 403)),
        ("manager_seoul", (200, 200, 403)),
        ("admin", (200, 200, 302)),
    ],
)
def test_managers_and_administrators_see_the_review_and_only_administrators_cancel(
    app, accounts, bots, who, statuses
) -> None:
    client = _client(app, accounts, who)
    key = _key(Signal.NETWORK, BOT_NETWORK)
    for (method, url), expected in zip(review_urls("network", key), statuses, strict=True):
        response = client.open(url, method=method)
        assert response.status_code == expected, (who, method, url)
        if who == "anonymous":
            assert "/staff/sign-in" in response.headers["Location"]
        if expected == 403:
            assert BOT_NETWORK not in response.text
    db.session.expire_all()
    assert all(a.status == Status.HELD for a in bots["network"])


def test_a_manager_reviews_only_the_bookings_of_their_offices(app, accounts, bots) -> None:
    manager = _client(app, accounts, "manager_seoul")
    page = manager.get("/admin/review")
    assert page.status_code == 200
    assert BOT_NETWORK in page.text and "2 bookings" in page.text and "4 bookings" not in page.text
    assert "•••••••••0001" not in page.text  # Busan's shared phone, masked
    assert all(a.reference not in page.text for a in bots["network"])  # listed on its own page

    cluster = manager.get(f"/admin/review/network/{_key(Signal.NETWORK, BOT_NETWORK)}")
    assert cluster.status_code == 200
    shown = [a.reference for a in bots["network"] if a.reference in cluster.text]
    assert shown == [a.reference for a in bots["network"][:2]]  # Seoul's two
    assert 'name="reference"' not in cluster.text
    assert "Only an administrator can cancel these bookings" in cluster.text

    # Busan's cluster and Busan's office are not the manager's.
    assert manager.get(f"/admin/review/phone/{_key(Signal.PHONE, BOT_PHONE)}").status_code == 404
    assert manager.get("/admin/review?office=busan").status_code == 400
    assert manager.get("/admin/review/network/" + "0" * 24).status_code == 404
    assert manager.get(
        f"/admin/review/nothing/{_key(Signal.NETWORK, BOT_NETWORK)}"
    ).status_code == (404)


def test_an_administrator_reviews_every_office(app, accounts, bots) -> None:
    admin = _client(app, accounts, "admin")
    page = admin.get("/admin/review")
    assert "4 bookings" in page.text and "•••••••••0001" in page.text
    assert page.text.index(BOT_NETWORK) < page.text.index("•••••••••0001")  # largest first
    busan_only = admin.get("/admin/review?office=busan")
    assert busan_only.status_code == 200 and "2 bookings" in busan_only.text
    # The period: the holds were made on Sunday 29 November (Korea time).
    assert "4 bookings" in admin.get("/admin/review?from=2026-11-29&to=2026-11-29").text
    empty = admin.get("/admin/review?from=2026-11-30&to=2026-12-02")
    assert "0 clusters" in empty.text and BOT_NETWORK not in empty.text
    assert admin.get("/admin/review?from=2026-12-02&to=2026-11-30").status_code == 400
    assert admin.get("/admin/review?from=tomorrow").status_code == 400
    assert admin.get("/admin/review?from=2026-12-01").status_code == 400  # after today


def test_the_staff_menu_of_a_manager_links_to_the_review(app, accounts, offices) -> None:
    page = _client(app, accounts, "manager_seoul").get("/staff/seoul")
    assert 'href="/admin/review"' in page.text
    clerk = _client(app, accounts, "clerk_seoul").get("/staff/seoul")
    assert 'href="/admin/review"' not in clerk.text
    assert 'href="/admin/review"' in _client(app, accounts, "admin").get("/admin/").text


# Cancelling


def _form(arguments: dict[str, Any], references: list[str], **extra: str) -> dict[str, Any]:
    return {**arguments, "reference": references, **extra}


MESSAGES = {
    "message_kk": "Сіздің броньыңыз жойылды.",
    "message_ru": "Ваша запись отменена.",
    "message_en": "Your booking is cancelled.",
    "message_ko": "예약이 취소되었습니다.",
}


def test_an_administrator_cancels_selected_bookings_after_confirming(app, accounts, bots, clock):
    admin = _client(app, accounts, "admin")
    key = _key(Signal.NETWORK, BOT_NETWORK)
    cluster = admin.get(f"/admin/review/network/{key}")
    bookings = bots["network"]
    assert all(f'value="{a.reference}"' in cluster.text for a in bookings)
    assert "A•••••• N••••••" in cluster.text and "Aigerim" not in cluster.text
    chosen = [bookings[0].reference, bookings[1].reference, bookings[3].reference]

    # The confirmation step changes nothing and offers the message in each language.
    confirm = admin.post(f"/admin/review/network/{key}/cancel", data=_form({}, chosen))
    assert confirm.status_code == 200
    assert "Cancel 3 bookings" in confirm.text
    for language in ("kk", "ru", "en", "ko"):
        assert str(suspicion.default_message(language)) in confirm.text.replace("&#39;", "'")
    assert bookings[2].reference not in confirm.text
    db.session.expire_all()
    assert all(a.status == Status.HELD for a in bookings)

    done = admin.post(
        f"/admin/review/network/{key}/cancel", data=_form({}, chosen, confirm="1", **MESSAGES)
    )
    assert done.status_code == 302 and done.headers["Location"].startswith("/admin/review?")
    assert (
        "3 bookings are cancelled and their citizens emailed."
        in admin.get(done.headers["Location"]).text
    )
    db.session.expire_all()
    assert [a.status for a in bookings] == ["cancelled", "cancelled", "held", "cancelled"]
    emails = db.session.execute(
        sa.select(OutboxMessage.appointment_id, OutboxMessage.text_body).where(
            OutboxMessage.kind == "review_cancellation"
        )
    ).all()
    by_id = dict(emails)
    assert set(by_id) == {bookings[i].id for i in (0, 1, 3)}
    assert MESSAGES["message_kk"] in by_id[bookings[0].id]
    assert MESSAGES["message_ru"] in by_id[bookings[1].id]
    assert MESSAGES["message_ko"] in by_id[bookings[3].id]
    (entry,) = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "cancel_suspicious")
    ).all()
    assert entry.user_id == accounts["admin"].id and entry.office_id is None  # two offices
    assert entry.after is not None and sorted(entry.after["references"]) == sorted(chosen)
    log = admin.get("/admin/audit?action=cancel_suspicious")
    assert "Suspicious bookings cancelled" in log.text and chosen[0] in log.text


def test_a_missing_message_cancels_nothing(app, accounts, bots) -> None:
    admin = _client(app, accounts, "admin")
    key = _key(Signal.NETWORK, BOT_NETWORK)
    references = [a.reference for a in bots["network"]]
    answer = admin.post(
        f"/admin/review/network/{key}/cancel",
        data=_form({}, references, confirm="1", **(MESSAGES | {"message_ko": ""})),
    )
    assert answer.status_code == 422
    assert 'href="#message_ko"' in answer.text and 'aria-invalid="true"' in answer.text
    assert MESSAGES["message_kk"] in answer.text  # what was typed stays
    db.session.expire_all()
    assert all(a.status == Status.HELD for a in bots["network"])
    assert db.session.scalars(sa.select(AuditEntry)).all() == []


def test_without_a_selection_the_cancel_step_goes_back_to_the_cluster(app, accounts, bots):
    admin = _client(app, accounts, "admin")
    key = _key(Signal.NETWORK, BOT_NETWORK)
    url = f"/admin/review/network/{key}/cancel"
    back = admin.get(url + "?office=seoul").headers["Location"]
    assert back.startswith(f"/admin/review/network/{key}?") and "office=seoul" in back
    nothing = admin.post(url, data={"reference": bots["phone"][0].reference})
    assert nothing.status_code == 302
    assert (
        "Select at least one booking that is still active."
        in admin.get(nothing.headers["Location"]).text
    )
    db.session.expire_all()
    assert bots["phone"][0].status == Status.HELD


def test_bookings_outside_the_filtered_offices_are_not_cancelled(app, accounts, bots) -> None:
    admin = _client(app, accounts, "admin")
    key = _key(Signal.NETWORK, BOT_NETWORK)
    references = [a.reference for a in bots["network"]]
    done = admin.post(
        f"/admin/review/network/{key}/cancel",
        data=_form({"office": "seoul"}, references, confirm="1", **MESSAGES),
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert [a.status for a in bots["network"]] == ["cancelled", "cancelled", "held", "held"]
    entry = db.session.scalars(sa.select(AuditEntry)).one()
    assert entry.office_id == bots["network"][0].office_id


@pytest.mark.parametrize("language", ["kk", "ru", "en", "ko"])
def test_the_confirmation_step_renders_in_every_language(app, accounts, bots, language) -> None:
    """The step is a POST: the every-page test, which GETs, does not reach it."""
    from flask_babel import force_locale, ngettext

    admin = _client(app, accounts, "admin")
    admin.post("/language", data={"language": language, "next": "/"})
    key = _key(Signal.NETWORK, BOT_NETWORK)
    references = [a.reference for a in bots["network"]]
    page = admin.post(f"/admin/review/network/{key}/cancel", data=_form({}, references))
    assert page.status_code == 200
    assert f'<html lang="{language}">' in page.text
    with force_locale(language):
        heading = ngettext("Cancel %(num)d booking", "Cancel %(num)d bookings", 4)
    assert f"<h1>{heading}</h1>" in page.text
    refused = admin.post(
        f"/admin/review/network/{key}/cancel",
        data=_form({}, references, confirm="1", **(MESSAGES | {"message_en": ""})),
    )
    assert refused.status_code == 422 and f'<html lang="{language}">' in refused.text
