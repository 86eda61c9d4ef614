"""The clerk's day page: where the focus lands after each action, checking in from the list,
an appointment's details in words, the waiting-room display's sentences, and the menu."""

from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from flask_babel import force_locale
from flask_babel import gettext as _

from consular.extensions import db
from consular.models import Appointment, AuditEntry, Desk, Office, Status, Ticket
from consular.services import booking, queue
from tests.conftest import booking_body
from tests.staff.conftest import MONDAY_9, POLICY, book, sign_in
from tests.statements import counted_statements


class _Elements(HTMLParser):
    """The start tags of a page with their attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def focused(html: str) -> list[str]:
    """The ids of the elements the page asks site.js to focus when it loads."""
    return [
        attrs.get("id") or tag for tag, attrs in _elements(html) if "data-focus-on-load" in attrs
    ]


def _use_desk(client, office) -> None:
    desk = db.session.scalar(sa.select(Desk).where(Desk.office_id == office.id))
    response = client.post("/staff/seoul/desk", data={"desk": desk.id})
    assert response.headers["Location"] == "/staff/seoul#call-next"


def _after(client, response, target: str) -> str:
    """Follow the redirect of an action: it names the target, which alone gets the focus."""
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#{target}"), response.headers["Location"]
    page = client.get(response.headers["Location"]).text
    assert focused(page) == [target]
    return page


# The focus after each action


def test_the_focus_goes_to_served_after_a_call_and_back_to_call_next(
    clerk, offices, visits
) -> None:
    seoul, _busan = offices
    first, second, _tuesday = visits
    _use_desk(clerk, seoul)
    for visit in (first, second):
        checked = clerk.post("/staff/seoul/check-in", data={"reference": visit.reference})
        _after(clerk, checked, "call-next")  # at a desk, the next step is to call
    called = clerk.post("/staff/seoul/call-next")
    page = _after(clerk, called, "served")
    assert "Called S-001 to desk 1." in page
    db.session.refresh(first)
    assert first.status == Status.CALLED
    ticket_id = _ticket_id(first)
    # Calling again keeps the visitor at the desk; parking, serving or transferring ends it.
    _after(clerk, clerk.post(f"/staff/seoul/tickets/{ticket_id}/recall"), "served")
    _after(clerk, clerk.post(f"/staff/seoul/tickets/{ticket_id}/park"), "call-next")
    _after(clerk, clerk.post(f"/staff/seoul/tickets/{ticket_id}/resume"), "call-next")
    _after(clerk, clerk.post("/staff/seoul/call-next"), "served")
    _after(clerk, clerk.post(f"/staff/seoul/tickets/{ticket_id}/serve"), "call-next")
    _after(clerk, clerk.post("/staff/seoul/call-next"), "served")
    other = _ticket_id(second)
    transfer = clerk.post(
        f"/staff/seoul/tickets/{other}/transfer",
        data={"service": seoul.services[0].id, "desk": 0},
    )
    _after(clerk, transfer, "call-next")
    # A refusal keeps the focus where the clerk was too.
    _after(clerk, clerk.post(f"/staff/seoul/tickets/{ticket_id}/serve"), "call-next")
    # The focus is asked for once, not at every later visit of the page.
    assert focused(clerk.get("/staff/seoul").text) == []


def _ticket_id(appointment: Appointment) -> int:
    return db.session.scalar(sa.select(Ticket.id).where(Ticket.appointment_id == appointment.id))


def test_without_a_desk_the_focus_stays_with_the_check_in_and_walk_in(
    clerk, offices, visits
) -> None:
    seoul, _busan = offices
    first, _second, _tuesday = visits
    _after(clerk, clerk.post("/staff/seoul/call-next"), "desk")
    _after(clerk, clerk.post("/staff/seoul/check-in", data={"reference": "nope"}), "reference")
    checked = clerk.post("/staff/seoul/check-in", data={"reference": first.reference})
    _after(clerk, checked, "reference")  # ready for the next visitor
    seoul.walk_in_share = 50
    db.session.commit()
    walk_in = clerk.post("/staff/seoul/walk-in", data={"service": seoul.services[0].id})
    _after(clerk, walk_in, "walkin-service")


def test_a_no_show_returns_to_the_appointments_row(clerk, offices, visits, clock) -> None:
    _first, second, _tuesday = visits
    clock.set(MONDAY_9 + timedelta(hours=2))
    response = clerk.post(
        f"/staff/seoul/appointments/{second.reference}/no-show", data={"confirm": "y"}
    )
    _after(clerk, response, f"appointment-{second.reference}")
    db.session.refresh(second)
    assert second.status == Status.NO_SHOW


# Checking in from the day's list


def _check_in_buttons(html: str) -> list[str | None]:
    """The references of the list's check-in forms (the only hidden reference fields)."""
    return [
        attrs.get("value")
        for tag, attrs in _elements(html)
        if tag == "input" and attrs.get("name") == "reference" and attrs.get("type") == "hidden"
    ]


def test_todays_confirmed_appointments_can_be_checked_in_from_the_list(
    clerk, offices, visits
) -> None:
    first, second, tuesday = visits
    page = clerk.get("/staff/seoul").text
    assert _check_in_buttons(page) == [first.reference, second.reference]
    assert 'aria-describedby="list-check-in-hint"' in page
    assert "Compare the passport with the booking" in page.split('id="list-check-in-hint"')[1]
    # Tomorrow's list can't check anybody in.
    tomorrow = clerk.get("/staff/seoul?day=2026-12-01").text
    assert tuesday.reference in tomorrow and _check_in_buttons(tomorrow) == []
    assert 'id="list-check-in-hint"' not in tomorrow

    response = clerk.post(
        "/staff/seoul/check-in", data={"reference": first.reference, "origin": "list"}
    )
    page = _after(clerk, response, f"appointment-{first.reference}")
    assert f"Checked in: ticket S-001 for {first.given_name} {first.family_name}." in page
    db.session.refresh(first)
    assert first.status == Status.CHECKED_IN
    assert _check_in_buttons(page) == [second.reference]  # checked in once only


# The appointment's page


def test_the_appointment_page_names_the_details_as_the_booking_form_does(
    app, offices, accounts, clock, iins, make_service
) -> None:
    seoul, _busan = offices
    marriage = make_service("marriage", detail_sets=["current_passport", "spouse"])
    seoul.services.append(marriage)
    db.session.commit()
    details = {
        "current_passport": {"expiry_date": "2027-03-01"},
        "spouse": {
            "given_name": "Daniyar",
            "family_name": "Omarov",
            "birth_date": "1990-01-01",
            "foreign_passport": "M1234567",
        },
    }
    body = booking_body(
        seoul, [marriage], MONDAY_9 + timedelta(days=1), applicant={"iin": next(iins)}
    )
    body["details"] = details
    request = booking.parse_booking_request(db.session, body, clock(), POLICY)
    placed = booking.place_hold(db.session, request, clock(), POLICY)
    db.session.commit()
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)

    page = client.get(f"/staff/seoul/appointments/{placed.appointment.reference}").text
    for raw in ("current_passport", "expiry_date", "given_name", "birth_date", "foreign_passport"):
        assert raw not in page
    for label, value in (
        ("Expiry date of the current passport", "March 1, 2027"),
        ("Spouse&#39;s date of birth", "January 1, 1990"),
        ("Spouse&#39;s foreign passport number", "M1234567"),
    ):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page
    assert "<h2>Current passport</h2>" in page and "<h2>Spouse</h2>" in page

    client.post("/language", data={"language": "ru", "next": "/"})
    page = client.get(f"/staff/seoul/appointments/{placed.appointment.reference}").text
    with force_locale("ru"):
        expiry = _("Expiry date of the current passport")
    assert expiry != "Expiry date of the current passport"  # the citizen form's translation
    in_russian = format_date(date(2027, 3, 1), "long", locale="ru")  # "1 марта 2027 г."
    assert f"<dt>{expiry}</dt><dd>{in_russian}</dd>" in page


# The waiting-room display


def test_the_display_says_whole_sentences_with_plurals(app, offices, accounts, clock) -> None:
    seoul, _busan = offices
    clock.set(MONDAY_9)
    screen = app.test_client()

    def shown() -> tuple[dict, str]:
        return screen.get("/staff/seoul/display.json").get_json(), screen.get(
            "/staff/seoul/display"
        ).text

    feed, page = shown()
    assert feed["waiting_text"] == "0 people waiting"
    assert feed["wait_text"] == "Estimated wait: not known yet"
    assert '<span id="waiting">0 people waiting</span>' in page
    assert '<span id="wait">Estimated wait: not known yet</span>' in page

    clerk = accounts["clerk_seoul"]
    service = seoul.services[0]
    ticket = queue.issue_walk_in(db.session, seoul, service, clerk, clock(), urgent=True)
    db.session.commit()
    feed, page = shown()
    assert feed["waiting"] == 1 and feed["waiting_text"] == "1 person waiting"
    assert '<span id="waiting">1 person waiting</span>' in page

    desk = db.session.scalar(sa.select(Desk).where(Desk.office_id == seoul.id))
    for _visitor in range(3):
        queue.issue_walk_in(db.session, seoul, service, clerk, clock(), urgent=True)
    called = queue.call_next(db.session, seoul, desk, clerk, clock())
    assert called.id == ticket.id
    clock.advance(minutes=1)
    queue.serve(db.session, called, clerk, clock())
    db.session.commit()
    feed, page = shown()
    # One minute a visitor at one desk, three waiting: about three minutes.
    assert feed["waiting_text"] == "3 people waiting"
    assert feed["wait_text"] == "Estimated wait: about 3 minutes"
    assert '<span id="wait">Estimated wait: about 3 minutes</span>' in page
    while (next_one := queue.call_next(db.session, seoul, desk, clerk, clock())) is not None:
        queue.serve(db.session, next_one, clerk, clock())
    db.session.commit()
    assert shown()[0]["wait_text"] == "Estimated wait: none"


# The menu


def test_the_display_link_says_it_opens_a_new_tab(clerk, offices) -> None:
    page = clerk.get("/staff/seoul").text
    link = page.split('target="_blank"')[1].split("</a>")[0]
    assert '<span class="visually-hidden"> (opens in a new tab)</span>' in link


# Controls shown exactly when the rule of consular.services.predicates allows them


@pytest.mark.parametrize("calls", [1, 2, 3, 4])
def test_call_again_is_offered_while_the_queue_would_call_again(
    clerk, offices, visits, calls
) -> None:
    from consular.services.predicates import can_recall

    seoul, _busan = offices
    first, _second, _tuesday = visits
    _use_desk(clerk, seoul)
    clerk.post("/staff/seoul/check-in", data={"reference": first.reference})
    clerk.post("/staff/seoul/call-next")
    ticket = db.session.get(Ticket, _ticket_id(first))
    ticket.call_count = calls
    db.session.commit()
    page = clerk.get("/staff/seoul").text
    assert can_recall(ticket) == (calls < queue.MAX_CALLS)
    assert ("Call again" in page) == can_recall(ticket)
    assert ("No answer: mark missed" in page) == (not can_recall(ticket))
    # And the service agrees: a recall past the last call marks the ticket missed.
    clerk.post(f"/staff/seoul/tickets/{ticket.id}/recall")
    db.session.refresh(ticket)
    assert (ticket.status == "missed") == (calls >= queue.MAX_CALLS)


def test_the_appointment_page_offers_check_in_only_when_the_rule_allows_it(
    clerk, offices, visits, clock
) -> None:
    from consular.services.predicates import can_check_in, can_mark_no_show

    first, second, tuesday = visits

    def controls(appointment) -> tuple[bool, bool]:
        page = clerk.get(f"/staff/seoul/appointments/{appointment.reference}").text
        return (">Check in</button>" in page, "Mark as no-show" in page)

    # At 09:00 nobody is late yet: a no-show only after the visit's time and the grace.
    assert controls(first) == (True, False) and not can_mark_no_show(first, clock())
    assert controls(tuesday) == (False, False)  # confirmed, but not for today
    clock.advance(minutes=15)
    assert controls(first) == (True, True) and can_mark_no_show(first, clock())
    assert can_check_in(first, clock()) and not can_check_in(tuesday, clock())
    clerk.post("/staff/seoul/check-in", data={"reference": first.reference})
    db.session.refresh(first)
    assert controls(first) == (False, False)
    assert not can_check_in(first, clock()) and not can_mark_no_show(first, clock())
    # The day's list follows the same rule.
    assert _check_in_buttons(clerk.get("/staff/seoul").text) == [second.reference]


def test_the_desk_query_after_an_action_is_limited_to_the_office(clerk, offices, app) -> None:
    """The query names the office, so the queue's index (office, day, status) serves it."""
    seoul, _busan = offices
    _use_desk(clerk, seoul)
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", remember)
    try:
        clerk.post("/staff/seoul/call-next")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", remember)
    desk_queries = [s for s in statements if "FROM ticket" in s and "ticket.desk_id =" in s]
    assert desk_queries
    assert all("ticket.office_id =" in s for s in desk_queries)


# The page's cost: a fixed number of statements, whatever the size of the day


def _statements_of_the_day_page(client) -> tuple[list[str], list[str]]:
    """The statements of the page rendered, then of the same page again, kept."""
    client.get("/staff/seoul")  # what the last action flashed: rendered, not kept
    pages: list[list[str]] = []
    for _load in range(2):
        # As at the start of a request in production: nothing loaded yet.
        db.session.expunge_all()
        with counted_statements() as statements:
            page = client.get("/staff/seoul")
        assert page.status_code == 200
        pages.append(statements)
    return pages[0], pages[1]


def test_the_day_page_reads_a_day_of_any_size_in_seven_statements_and_two_when_kept(
    clerk, offices, visits, clock, iins
) -> None:
    seoul_id = offices[0].id
    first = visits[0].reference
    _use_desk(clerk, offices[0])
    few, few_kept = _statements_of_the_day_page(clerk)

    # A fuller day: more visits (two of them checked in, one at the desk), and walk-ins.
    seoul = db.session.get(Office, seoul_id)
    clock.set(MONDAY_9 - timedelta(days=1))
    more = [
        book(seoul, MONDAY_9 + timedelta(minutes=minutes), next(iins), clock()).reference
        for minutes in (15, 30, 45, 75, 90, 105, 120, 135)
    ]
    clock.set(MONDAY_9)
    seoul.walk_in_share = 50
    service_id = seoul.services[0].id
    db.session.commit()
    for reference in (first, more[0]):
        clerk.post("/staff/seoul/check-in", data={"reference": reference})
    for _visitor in range(3):
        clerk.post("/staff/seoul/walk-in", data={"service": service_id})
    clerk.post("/staff/seoul/call-next")
    many, many_kept = _statements_of_the_day_page(clerk)
    page = clerk.get("/staff/seoul").text
    assert all(f'id="appointment-{reference}"' in page for reference in more)
    assert page.count("<td>Walk-in</td>") == 3 and 'id="served"' in page

    # The account with its offices, the page's versions, the desks, the services, the
    # tickets, the visits with their services, the walk-in places left.
    assert len(many) == len(few) == 7, "\n".join(s[:90] for s in many)
    assert "page_version" in many[1]
    # Kept: the account and the versions.
    assert len(many_kept) == len(few_kept) == 2, "\n".join(s[:90] for s in many_kept)


# One visitor and one clerk at a desk, through the pages


def test_a_desk_taken_by_another_clerk_says_who_has_it(app, clerk, offices, accounts) -> None:
    seoul, _busan = offices
    _use_desk(clerk, seoul)
    manager = app.test_client()
    sign_in(manager, accounts["manager_seoul"].email)
    desk = db.session.scalar(sa.select(Desk).where(Desk.office_id == seoul.id))
    response = manager.post("/staff/seoul/desk", data={"desk": desk.id})
    page = _after(manager, response, "desk")
    assert "Desk 1 is taken by Clerk Seoul." in page
    assert 'id="call-next"' not in page
    # Left, it is free for the next clerk.
    _after(clerk, clerk.post("/staff/seoul/desk/leave"), "desk")
    _after(manager, manager.post("/staff/seoul/desk", data={"desk": desk.id}), "call-next")
    assert 'id="call-next"' not in clerk.get("/staff/seoul").text


def test_call_next_with_a_visitor_at_the_desk_changes_nothing(clerk, offices, visits) -> None:
    seoul, _busan = offices
    first, second, _tuesday = visits
    _use_desk(clerk, seoul)
    for visit in (first, second):
        clerk.post("/staff/seoul/check-in", data={"reference": visit.reference})
    clerk.post("/staff/seoul/call-next")
    page = _after(clerk, clerk.post("/staff/seoul/call-next"), "served")
    assert "Ticket S-001 is still at desk 1. Finish with them first" in page
    assert 'role="alert"' in page
    statuses = db.session.scalars(sa.select(Ticket.status).order_by(Ticket.number)).all()
    assert statuses == ["called", "waiting"]
    # Nor can a particular ticket be called to the busy desk.
    waiting = _ticket_id(second)
    page = _after(clerk, clerk.post(f"/staff/seoul/tickets/{waiting}/call"), "served")
    assert "still at desk 1" in page
    clerk.post(f"/staff/seoul/tickets/{_ticket_id(first)}/serve")
    page = _after(clerk, clerk.post(f"/staff/seoul/tickets/{waiting}/call"), "served")
    assert 'role="status"' in page and "Called S-002 to desk 1." in page


def test_the_display_shows_one_ticket_a_desk(app, offices, accounts, clock) -> None:
    seoul, _busan = offices
    clock.set(MONDAY_9)
    clerk = accounts["clerk_seoul"]
    first = db.session.scalar(sa.select(Desk).where(Desk.office_id == seoul.id))
    second = Desk(office=seoul, name="2")
    db.session.add(second)
    for _visitor in range(3):
        queue.issue_walk_in(db.session, seoul, seoul.services[0], clerk, clock(), urgent=True)
    for desk in (first, second):
        queue.call_next(db.session, seoul, desk, clerk, clock())
    with pytest.raises(queue.DeskBusy):
        queue.call_next(db.session, seoul, first, clerk, clock())
    db.session.commit()
    feed = app.test_client().get("/staff/seoul/display.json").get_json()
    assert sorted(call["desk"] for call in feed["calls"]) == ["1", "2"]
    assert feed["waiting"] == 1


def test_a_no_show_is_confirmed_and_can_be_undone(clerk, offices, visits, clock) -> None:
    _first, second, _tuesday = visits
    url = f"/staff/seoul/appointments/{second.reference}/no-show"
    # 10:10 for the 10:00 visit: within the grace, the page says from when.
    clock.set(MONDAY_9 + timedelta(hours=1, minutes=10))
    page = clerk.get(url).text
    assert "It can be marked as a no-show from 10:15" in page and 'name="confirm"' not in page
    refused = clerk.post(url, data={"confirm": "y"})
    assert "from 10:15" in clerk.get(refused.headers["Location"]).text
    db.session.refresh(second)
    assert second.status == Status.CONFIRMED
    clock.advance(minutes=5)
    assert 'name="confirm"' in clerk.get(url).text
    assert clerk.post(url).status_code == 200  # without the confirmation: asked again
    db.session.refresh(second)
    assert second.status == Status.CONFIRMED
    page = _after(clerk, clerk.post(url, data={"confirm": "y"}), f"appointment-{second.reference}")
    assert "marked as a no-show. You can undo it today." in page
    db.session.refresh(second)
    assert second.status == Status.NO_SHOW
    assert f"/appointments/{second.reference}/undo-no-show" in page
    undo = clerk.post(f"/staff/seoul/appointments/{second.reference}/undo-no-show")
    page = _after(clerk, undo, f"appointment-{second.reference}")
    assert "is undone: the visit is confirmed again." in page
    db.session.refresh(second)
    assert second.status == Status.CONFIRMED
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.entity_id == str(second.id))
    ).all()
    assert actions[-2:] == ["no_show", "undo_no_show"]


def test_the_pages_refresh_is_skipped_while_the_session_has_something_to_say(
    clerk, offices
) -> None:
    seoul, _busan = offices
    _use_desk_without_loading = clerk.post(
        "/staff/seoul/desk",
        data={"desk": db.session.scalar(sa.select(Desk.id).where(Desk.office_id == seoul.id))},
    )
    assert _use_desk_without_loading.status_code == 302
    refresh = {"X-Queue-Refresh": "1"}
    assert clerk.get("/staff/seoul", headers=refresh).status_code == 204
    page = clerk.get("/staff/seoul").text
    assert "You work at desk 1." in page
    refreshed = clerk.get("/staff/seoul", headers=refresh)
    assert refreshed.status_code == 200 and "You work at desk 1." not in refreshed.text


def test_a_flag_among_a_visits_details_reads_as_yes_in_the_clerks_language(app) -> None:
    from flask_babel import force_locale

    from consular.staff.views import _detail_value

    with app.test_request_context(), force_locale("ru"):
        assert _detail_value("flag", "yes", "ru") == "Да"
    with app.test_request_context(), force_locale("en"):
        assert _detail_value("flag", "yes", "en") == "Yes"
