"""The waiting-room kiosk, read as its specification: only a tablet a manager started may
issue tickets; a visitor takes a walk-in ticket within the day's allowance or checks in by
reference, sees the ticket and never anyone's personal data; no reload issues a second one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, AuditEntry, Office, ServiceType, Status, Ticket
from consular.rate_limits import KIOSK_COOKIE
from consular.services import booking, kiosk, queue
from tests.kiosk.conftest import start_kiosk
from tests.staff.conftest import MONDAY_9, POLICY


def _tickets() -> list[Ticket]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Ticket).order_by(Ticket.id)))


def _service_id() -> int:
    return db.session.scalar(
        sa.select(ServiceType.id).where(ServiceType.code == "passport-renewal")
    )


def _service_name() -> str:
    service = db.session.scalars(
        sa.select(ServiceType).where(ServiceType.code == "passport-renewal")
    ).one()
    return service.display_name("en")


def _ticket_path(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert re.fullmatch(r"/kiosk/seoul/ticket/\d+", location), location
    return location


# Who may use the kiosk


def test_without_a_pass_the_kiosk_says_how_to_start_it_and_issues_nothing(
    client, offices, clock
) -> None:
    clock.set(MONDAY_9)
    page = client.get("/kiosk/seoul")
    assert page.status_code == 403
    assert "This kiosk is not started" in page.text
    assert "Use this device as the waiting-room kiosk" in page.text
    refused = client.post("/kiosk/seoul/walk-in", data={"service": _service_id()})
    assert refused.status_code == 403
    assert client.post("/kiosk/seoul/appointment", data={"reference": "X"}).status_code == 403
    assert _tickets() == []


def test_a_forged_or_foreign_pass_opens_nothing(app, offices, tablet) -> None:
    seoul, busan = offices
    token = tablet.get_cookie(KIOSK_COOKIE, path="/kiosk/seoul").value
    other = app.test_client()
    other.set_cookie(KIOSK_COOKIE, token[:-2] + "xx", path="/kiosk/seoul")
    assert other.get("/kiosk/seoul").status_code == 403
    # Seoul's pass, sent to Busan's kiosk, is not Busan's.
    other.set_cookie(KIOSK_COOKIE, token, path="/kiosk/busan")
    assert other.get("/kiosk/busan").status_code == 403
    assert tablet.get("/kiosk/seoul").status_code == 200


@pytest.mark.parametrize(
    ("account", "status"),
    [("clerk_seoul", 403), ("clerk_busan", 404), ("manager_seoul", 303), ("admin", 303)],
)
def test_only_a_manager_of_the_office_or_an_admin_starts_a_kiosk(
    app, accounts, account, status
) -> None:
    client = app.test_client()
    started = start_kiosk(client, accounts[account].email)
    assert started.status_code == status
    cookie = client.get_cookie(KIOSK_COOKIE, path="/kiosk/seoul")
    if status == 303:
        assert started.headers["Location"] == "/kiosk/seoul"
        assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
        assert client.get("/kiosk/seoul").status_code == 200
    else:
        assert cookie is None
        assert client.get("/kiosk/seoul").status_code == 403


def test_the_pass_is_secure_as_the_session_cookie_is(database_url, clock, offices) -> None:
    db.session.commit()
    start = kiosk.issue_pass("secret", db.session.get(Office, offices[0].id))
    assert kiosk.read_pass("secret", start[0]) == start[1]
    assert kiosk.read_pass("another secret", start[0]) is None


def test_the_start_button_is_on_the_day_page_of_managers_only(app, accounts, clock) -> None:
    for account, shown in (("clerk_seoul", False), ("manager_seoul", True)):
        client = app.test_client()
        start_kiosk(client, accounts[account].email)
        page = client.get("/staff/seoul").text
        assert ("Use this device as the waiting-room kiosk" in page) is shown
        assert ("Stop every kiosk of this office" in page) is shown


def test_stopping_the_kiosks_ends_every_pass_and_both_are_audited(
    app, accounts, tablet, offices
) -> None:
    manager = app.test_client()
    start_kiosk(manager, accounts["manager_seoul"].email)  # a second kiosk
    stopped = manager.post("/kiosk/seoul/stop")
    assert stopped.status_code == 303
    assert tablet.get("/kiosk/seoul").status_code == 403
    assert manager.get("/kiosk/seoul").status_code == 403
    assert tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()}).status_code == 403
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.entity == "office").order_by(AuditEntry.id)
    ).all()
    assert actions == ["start_kiosk", "start_kiosk", "stop_kiosks"]
    # A kiosk started after the stop works again.
    start_kiosk(manager, accounts["manager_seoul"].email)
    assert manager.get("/kiosk/seoul").status_code == 200


def test_a_clerk_cannot_stop_the_kiosks(app, accounts, tablet) -> None:
    clerk = app.test_client()
    start_kiosk(clerk, accounts["clerk_seoul"].email)
    assert clerk.post("/kiosk/seoul/stop").status_code == 403
    assert tablet.get("/kiosk/seoul").status_code == 200


# Without an appointment


def test_a_walk_in_ticket_is_issued_and_counted_against_the_allowance(
    tablet, offices, clock
) -> None:
    seoul, _busan = offices
    clock.set(MONDAY_9)
    choices = tablet.get("/kiosk/seoul/walk-in")
    assert choices.status_code == 200
    assert f'value="{_service_id()}"' in choices.text
    left = queue.walk_in_minutes_left(db.session, seoul, clock())
    path = _ticket_path(tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()}))
    [ticket] = _tickets()
    assert ticket.is_walk_in and not ticket.is_priority and ticket.label == "S-001"
    assert queue.walk_ins_used(db.session, seoul, clock()) == 1
    assert (
        queue.walk_in_minutes_left(db.session, seoul, clock()) == left - 15
    )  # one 15-minute service
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "walk_in")).one()
    assert entry.user_id is None  # the kiosk, not an account
    page = tablet.get(path)
    assert page.status_code == 200
    assert "S-001" in page.text and _service_name() in page.text
    assert "0 people before you" in page.text
    assert "window.print" not in page.text and "data-kiosk-print" in page.text


def test_the_ticket_page_counts_who_is_before_the_visitor(tablet, offices, clock) -> None:
    clock.set(MONDAY_9)
    for _ in range(2):
        tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()})
        clock.advance(minutes=1)
    path = _ticket_path(tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()}))
    assert "2 people before you" in tablet.get(path).text


def test_when_the_allowance_is_used_up_the_kiosk_points_to_booking_and_the_counter(
    tablet, offices, clock
) -> None:
    seoul, _busan = offices
    clock.set(MONDAY_9)
    seoul.walk_in_share = 0
    db.session.commit()
    refused = tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()})
    assert refused.status_code == 303
    assert refused.headers["Location"] == "/kiosk/seoul/walk-in/used-up"
    assert _tickets() == []
    page = tablet.get("/kiosk/seoul/walk-in/used-up").text
    assert "all taken" in page
    assert "http://consular.test/book/seoul" in page
    assert "ask at the counter" in page
    # The choice page says so at once, before anyone touches a service.
    assert "all taken" in tablet.get("/kiosk/seoul/walk-in").text


def test_a_service_longer_than_the_time_left_is_shown_full(
    tablet, offices, clock, make_service
) -> None:
    seoul, _busan = offices
    clock.set(MONDAY_9)
    long = make_service("marriage", duration_minutes=60)
    seoul.services.append(long)
    passport = db.session.get(ServiceType, _service_id())
    while queue.walk_in_minutes_left(db.session, seoul, clock()) >= 60:
        queue.issue_walk_in(db.session, seoul, passport, None, clock())
    db.session.commit()
    page = tablet.get("/kiosk/seoul/walk-in").text
    assert f'name="service" value="{passport.id}"' in page
    assert f'name="service" value="{long.id}"' not in page
    assert "No more tickets today for this service" in page
    # Sent all the same (a page shown before the last ticket was taken): nothing is issued.
    count = len(_tickets())
    refused = tablet.post("/kiosk/seoul/walk-in", data={"service": long.id})
    assert refused.headers["Location"] == "/kiosk/seoul/walk-in/used-up"
    assert len(_tickets()) == count


def test_a_service_of_another_office_or_none_is_refused(tablet, offices, make_service) -> None:
    other = make_service("notary", duration_minutes=15)
    db.session.commit()
    for value in (str(other.id), "", "abc"):
        refused = tablet.post("/kiosk/seoul/walk-in", data={"service": value})
        assert refused.status_code == 303
        assert refused.headers["Location"] == "/kiosk/seoul/walk-in"
    assert _tickets() == []


# With an appointment


def test_check_in_by_reference_shows_the_ticket(tablet, visits) -> None:
    path = _ticket_path(
        tablet.post("/kiosk/seoul/appointment", data={"reference": visits[0].reference})
    )
    [ticket] = _tickets()
    assert ticket.appointment_id == visits[0].id
    assert db.session.get(Appointment, visits[0].id).status == Status.CHECKED_IN
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "check_in")).one()
    assert entry.user_id is None
    page = tablet.get(path).text
    assert ticket.label in page and _service_name() in page


@pytest.mark.parametrize("typed", ["lower", "no dash", "spaced"])
def test_the_reference_is_accepted_in_any_case_and_without_its_dash(tablet, visits, typed) -> None:
    reference = visits[0].reference
    written = {
        "lower": reference.lower(),
        "no dash": reference.replace("-", ""),
        "spaced": f"  {reference.replace('-', ' ').lower()} ",
    }[typed]
    _ticket_path(tablet.post("/kiosk/seoul/appointment", data={"reference": written}))
    assert len(_tickets()) == 1


def _refusal(tablet, reference: str) -> str:
    answer = tablet.post("/kiosk/seoul/appointment", data={"reference": reference})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/kiosk/seoul/appointment"
    return tablet.get("/kiosk/seoul/appointment").text


def test_a_visit_of_another_day_is_refused_with_its_day(tablet, visits) -> None:
    tuesday = visits[2]
    page = _refusal(tablet, tuesday.reference)
    assert "not today" in page and "December 1, 2026 at 09:00" in page
    assert "ask at the counter" in page
    assert f'value="{tuesday.reference}"' in page  # kept as typed
    assert _tickets() == []


def test_a_past_visit_is_refused(tablet, visits, clock) -> None:
    _ticket_path(tablet.post("/kiosk/seoul/appointment", data={"reference": visits[0].reference}))
    clock.advance(days=1)  # Tuesday: Monday's visits are past, checked in or not
    for visit in visits[:2]:
        page = _refusal(tablet, visit.reference)
        assert "was on" in page and "book a new one" in page
    assert len(_tickets()) == 1


@pytest.mark.parametrize("reference", ["TAB-ZZZZZZ", "nonsense", "x" * 40])
def test_an_unknown_reference_is_refused(tablet, visits, reference) -> None:
    page = _refusal(tablet, reference)
    assert "can&#39;t find a booking with this reference" in page
    assert _tickets() == []


def test_an_empty_reference_asks_for_one(tablet, visits) -> None:
    page = _refusal(tablet, "  ")
    assert "Type or scan the reference" in page


def test_a_visit_of_another_office_is_refused(tablet, offices, clock, iins) -> None:
    from tests.staff.conftest import book

    _seoul, busan = offices
    clock.set(MONDAY_9 - timedelta(days=1))
    visit = book(busan, MONDAY_9, next(iins), clock())
    clock.set(MONDAY_9)
    page = _refusal(tablet, visit.reference)
    assert "another office" in page and "Office busan" in page
    assert _tickets() == []


def test_a_cancelled_visit_is_refused(tablet, visits, clock) -> None:
    booking.cancel_appointment(
        db.session, visits[0], "citizen", clock(), POLICY, enforce_cutoff=False, notify=False
    )
    db.session.commit()
    assert "was cancelled" in _refusal(tablet, visits[0].reference)
    assert _tickets() == []


def test_checking_in_again_shows_the_same_ticket(tablet, visits) -> None:
    first = _ticket_path(
        tablet.post("/kiosk/seoul/appointment", data={"reference": visits[0].reference})
    )
    again = tablet.post("/kiosk/seoul/appointment", data={"reference": visits[0].reference})
    assert _ticket_path(again) == first
    page = tablet.get(first).text
    assert "already checked in" in page
    assert len(_tickets()) == 1


def test_a_visit_checked_in_at_the_counter_gets_its_ticket_shown(
    tablet, visits, accounts, clock
) -> None:
    ticket = queue.check_in(db.session, visits[0], accounts["clerk_seoul"], clock())
    db.session.commit()
    again = tablet.post("/kiosk/seoul/appointment", data={"reference": visits[0].reference})
    assert _ticket_path(again) == f"/kiosk/seoul/ticket/{ticket.id}"


def test_an_early_visitor_is_told_when_they_will_be_called(tablet, visits, clock) -> None:
    clock.set(visits[1].starts_at - timedelta(hours=1))  # 09:00 for a 10:00 visit
    path = _ticket_path(
        tablet.post("/kiosk/seoul/appointment", data={"reference": visits[1].reference})
    )
    assert "You are early" in tablet.get(path).text and "10:00" in tablet.get(path).text


# The ticket page


def test_reloading_the_ticket_page_issues_nothing(tablet, visits) -> None:
    path = _ticket_path(tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()}))
    for _ in range(3):
        assert tablet.get(path).status_code == 200
    assert len(_tickets()) == 1


def test_a_ticket_is_shown_only_on_the_device_that_issued_it(app, tablet, accounts, visits) -> None:
    path = _ticket_path(tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()}))
    other = app.test_client()
    start_kiosk(other, accounts["manager_seoul"].email)
    assert other.get(path).status_code == 404
    assert tablet.get(path.rsplit("/", 1)[0] + "/999999").status_code == 404


def test_no_personal_data_is_ever_shown(tablet, visits) -> None:
    visit = visits[0]
    person = [visit.given_name, visit.family_name, visit.iin, visit.email, visit.phone]
    person.append(visit.passport_number)
    path = _ticket_path(
        tablet.post("/kiosk/seoul/appointment", data={"reference": visit.reference})
    )
    first = tablet.get(path).text
    again = tablet.post("/kiosk/seoul/appointment", data={"reference": visit.reference})
    assert _ticket_path(again) == path  # already checked in
    pages = [first, tablet.get(path).text, _refusal(tablet, visits[2].reference)]
    for page in pages:
        for value in person:
            assert value and value not in page


def test_done_forgets_the_visitor_and_their_language(tablet, visits) -> None:
    tablet.post("/kiosk/seoul/language", data={"language": "ru", "next": "/kiosk/seoul"})
    path = _ticket_path(tablet.post("/kiosk/seoul/walk-in", data={"service": _service_id()}))
    assert '<html lang="ru">' in tablet.get(path).text
    done = tablet.post("/kiosk/seoul/done")
    assert done.status_code == 303 and done.headers["Location"] == "/kiosk/seoul"
    assert tablet.get(path).status_code == 404
    start = tablet.get("/kiosk/seoul").text
    assert '<html lang="en">' in start
    assert "data-kiosk-idle" not in start  # nothing of anyone's to forget


def test_a_language_left_chosen_is_forgotten_when_the_start_page_is_idle(tablet) -> None:
    tablet.post("/kiosk/seoul/language", data={"language": "ko", "next": "/kiosk/seoul"})
    start = tablet.get("/kiosk/seoul").text
    assert 'data-kiosk-idle="60"' in start and "data-kiosk-done" in start


@pytest.mark.parametrize("language", ["kk", "ru", "en", "ko"])
def test_the_language_is_switched_on_the_kiosk_itself(tablet, visits, language) -> None:
    switched = tablet.post(
        "/kiosk/seoul/language", data={"language": language, "next": "/kiosk/seoul/walk-in"}
    )
    assert switched.status_code == 303
    assert switched.headers["Location"] == "/kiosk/seoul/walk-in"
    assert f'<html lang="{language}">' in tablet.get("/kiosk/seoul/walk-in").text


def test_the_language_switch_never_leads_out_of_the_kiosk(tablet, visits) -> None:
    for target in ("https://example.com/", "/staff/seoul", "//example.com"):
        switched = tablet.post("/kiosk/seoul/language", data={"language": "ko", "next": target})
        assert switched.headers["Location"] == "/kiosk/seoul"
