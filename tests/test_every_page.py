"""Every page in every language: each GET route of the app's URL map, requested by the visitor
it is made for, with the data it shows, answers as expected in kk, ru, en and ko, and an HTML
page is in the language asked for. A translation can't break a page without this failing, and
a new route can't be forgotten: it must be added to PAGES below.

The data is made the way people make it (the API, the booking pages, the staff and admin
pages), so the pages show what they show in real use: a held and a confirmed appointment, a
cancelled one, a no-show, tickets waiting, called, parked, served and missed, a closure with a
booking to decide on, a customised email text, a reset password, a lottery taking entries and
one drawn with its winner's offer, and the audit log of it all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask, url_for
from flask.testing import FlaskClient
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import escape

from consular.extensions import db
from consular.models import Desk, OutboxMessage, Passkey, ServiceType, Ticket, TicketStatus
from consular.services import (
    email_texts,
    lottery,
    queue_reports,
    reports,
    second_factors,
    suspicion,
)
from tests.conftest import SECRET, booking_body
from tests.staff.conftest import accounts, offices, sign_in  # noqa: F401

LANGUAGES = ["kk", "ru", "en", "ko"]

# The test clock starts on Sunday 2026-11-29 at 12:00 in Seoul; the visits are in the week after.
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
TUESDAY_11 = MONDAY_9 + timedelta(days=1, hours=2)
WEDNESDAY_10 = MONDAY_9 + timedelta(days=2, hours=1)
THURSDAY_10 = MONDAY_9 + timedelta(days=3, hours=1)
THURSDAY = "2026-12-03"

# Pages with a layout of their own (no header, skip link or footer).
STANDALONE = {
    "staff.display",
    "staff.day_print",
    "kiosk.start",
    "kiosk.appointment",
    "kiosk.walk_in_services",
    "kiosk.used_up",
    "kiosk.ticket",
}


@dataclass
class World:
    """What the pages show, and the clients of the people who look at them."""

    clients: dict[str, FlaskClient]
    references: dict[str, str]
    tokens: dict[str, str]
    ids: dict[str, int]
    service_ids: list[int]
    services: list[str]


@dataclass(frozen=True)
class Visit:
    """One request of a page: who asks, the URL values (path and query), the answer expected."""

    viewer: str
    values: dict[str, object] = field(default_factory=dict)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def _all(viewers: tuple[str, ...], **values: object) -> list[Visit]:
    return [Visit(viewer, dict(values)) for viewer in viewers]


STAFF = ("clerk", "manager", "admin")
MANAGERS = ("manager", "admin")

# Every GET endpoint of the app: the requests that show each of its pages in one language.
PAGES: dict[str, Callable[[World, str], list[Visit]]] = {
    "static": lambda w, lang: [Visit("anonymous", {"filename": "css/site.css"})],
    "ping": lambda w, lang: [Visit("anonymous")],
    "favicon": lambda w, lang: [Visit("anonymous", status=301)],
    # For the load balancer and Prometheus (tests/test_health.py, tests/test_metrics.py): not
    # ready here, since the test database is made from the models, not by the migrations.
    "healthz": lambda w, lang: [Visit("anonymous")],
    "readyz": lambda w, lang: [Visit("anonymous", status=503)],
    "metrics": lambda w, lang: [Visit("anonymous")],
    # The citizen's pages
    "booking.home": lambda w, lang: [Visit("anonymous")],
    "booking.choose_office": lambda w, lang: [Visit("anonymous")],
    "booking.choose_services": lambda w, lang: [
        Visit("anonymous", {"office_code": "seoul"}),
        Visit("anonymous", {"office_code": "busan"}),
    ],
    "booking.choose_time": lambda w, lang: [
        Visit("anonymous", {"office_code": "seoul", "services": "passport-renewal"}),
        Visit(
            "anonymous",
            {"office_code": "seoul", "services": ",".join(w.services), "day": "2026-12-01"},
        ),
        Visit(
            "anonymous",
            {"office_code": "seoul", "services": "passport-renewal", "month": "2027-01"},
        ),
    ],
    "booking.details": lambda w, lang: [
        Visit(
            "anonymous",
            {
                "office_code": "seoul",
                "services": ",".join(w.services),
                "start": TUESDAY_11.isoformat(),
            },
        )
    ],
    "booking.review": lambda w, lang: [
        Visit(
            "citizen",
            {
                "office_code": "seoul",
                "services": "passport-renewal",
                "start": WEDNESDAY_10.isoformat(),
            },
        )
    ],
    "booking.hold": lambda w, lang: [Visit("citizen", {"reference": w.references["held"]})],
    "booking.appointment": lambda w, lang: [
        Visit("citizen", {"reference": w.references[name]})
        for name in ("confirmed", "cancelled", "served")
    ],
    "booking.calendar_file": lambda w, lang: [
        Visit("citizen", {"reference": w.references[name]}) for name in ("confirmed", "cancelled")
    ],
    "booking.reschedule": lambda w, lang: [
        Visit("citizen", {"reference": w.references["confirmed"]})
    ],
    "booking.cancel": lambda w, lang: [Visit("citizen", {"reference": w.references["confirmed"]})],
    "booking.manage_lookup": lambda w, lang: [Visit("anonymous")],
    "booking.manage_link": lambda w, lang: [
        Visit(
            "anonymous",
            {"reference": w.references["confirmed"], "token": w.tokens["confirmed"]},
            status=302,
        )
    ],
    "booking.dev_mailbox": lambda w, lang: [Visit("anonymous")],
    # Lottery releases
    "lottery.release": lambda w, lang: [
        Visit("anonymous", {"release_id": w.ids[name]}) for name in ("drawn_lottery", "lottery")
    ],
    "lottery.enter": lambda w, lang: [
        Visit("anonymous", {"release_id": w.ids["lottery"], "services": "passport-renewal"})
    ],
    "lottery.entry": lambda w, lang: [
        Visit("entrant", {"reference": w.references[name]}) for name in ("won", "entered")
    ],
    "lottery.entry_link": lambda w, lang: [
        Visit(
            "anonymous",
            {"reference": w.references["won"], "token": w.tokens["won"]},
            status=302,
        )
    ],
    # The waiting list
    "waitlist.join": lambda w, lang: [
        Visit("anonymous", {"office_code": "seoul", "services": "passport-renewal"})
    ],
    "waitlist.entry": lambda w, lang: [
        Visit("entrant", {"reference": w.references[name]})
        for name in ("waiting", "waitlist_offer")
    ],
    "waitlist.entry_link": lambda w, lang: [
        Visit(
            "anonymous",
            {"reference": w.references["waiting"], "token": w.tokens["waiting"]},
            status=302,
        )
    ],
    # The JSON API
    "api.openapi": lambda w, lang: [Visit("anonymous")],
    "api.list_offices": lambda w, lang: [Visit("anonymous")],
    "api.challenge": lambda w, lang: [Visit("anonymous", {"office": "seoul"})],
    "api.list_services": lambda w, lang: [Visit("anonymous", {"code": "seoul"})],
    "api.availability": lambda w, lang: [
        Visit(
            "anonymous",
            {
                "code": "seoul",
                "services": "passport-renewal",
                "from": "2026-11-30",
                "to": "2026-12-06",
            },
        )
    ],
    "api.get_appointment": lambda w, lang: [
        Visit(
            "anonymous",
            {"reference": w.references["confirmed"]},
            headers={"Authorization": f"Bearer {w.tokens['confirmed']}"},
        )
    ],
    # Staff
    "auth.sign_in": lambda w, lang: [Visit("anonymous")],
    "auth.sign_in_challenge": lambda w, lang: [Visit("anonymous")],
    "auth.change_password": lambda w, lang: _all(STAFF),
    "auth.second_step": lambda w, lang: [Visit("pending"), Visit("anonymous", status=302)],
    "auth.security": lambda w, lang: _all(STAFF),
    "auth.authenticator_app": lambda w, lang: _all(("clerk", "manager")),
    "staff.index": lambda w, lang: [Visit(viewer, status=302) for viewer in STAFF],
    "staff.day": lambda w, lang: [
        *_all(STAFF, office_code="seoul"),
        Visit("clerk", {"office_code": "seoul", "day": "2026-12-02"}),
        Visit("clerk", {"office_code": "seoul", "q": "Nurlanova"}),
        Visit("admin", {"office_code": "busan"}),
    ],
    "staff.appointment": lambda w, lang: (
        [
            Visit("clerk", {"office_code": "seoul", "reference": w.references[name]})
            for name in ("served", "parked", "missed", "checked_in", "no_show", "confirmed")
        ]
        + [Visit("manager", {"office_code": "seoul", "reference": w.references["affected"]})]
    ),
    # The confirmation asked before a no-show, and what it says once the visit is one.
    "staff.no_show": lambda w, lang: [
        Visit("clerk", {"office_code": "seoul", "reference": w.references[name]})
        for name in ("confirmed", "no_show")
    ],
    "staff.day_csv": lambda w, lang: _all(("clerk", "admin"), office_code="seoul"),
    "staff.day_print": lambda w, lang: _all(("clerk", "admin"), office_code="seoul"),
    "staff.display": lambda w, lang: [Visit("anonymous", {"office_code": "seoul"})],
    "staff.display_json": lambda w, lang: [Visit("anonymous", {"office_code": "seoul"})],
    # The waiting-room kiosk: on the tablet a manager started, and refused elsewhere.
    "kiosk.start": lambda w, lang: [
        Visit("kiosk", {"office_code": "seoul"}),
        Visit("anonymous", {"office_code": "seoul"}, status=403),
    ],
    "kiosk.appointment": lambda w, lang: [Visit("kiosk", {"office_code": "seoul"})],
    "kiosk.walk_in_services": lambda w, lang: [Visit("kiosk", {"office_code": "seoul"})],
    "kiosk.used_up": lambda w, lang: [Visit("kiosk", {"office_code": "seoul"})],
    "kiosk.ticket": lambda w, lang: [
        Visit("kiosk", {"office_code": "seoul", "ticket_id": w.ids[name]})
        for name in ("kiosk_walk_in", "kiosk_check_in")
    ],
    "staff.schedule_page": lambda w, lang: [
        *_all(MANAGERS, office_code="seoul"),
        Visit("admin", {"office_code": "busan"}),
    ],
    "staff.period_page": lambda w, lang: _all(
        MANAGERS, office_code="seoul", period_id=w.ids["seoul_monday_morning"]
    ),
    "staff.waiting_list": lambda w, lang: _all(STAFF, office_code="seoul"),
    "staff.desks_page": lambda w, lang: [
        *_all(MANAGERS, office_code="seoul"),
        Visit("admin", {"office_code": "busan"}),
    ],
    "staff.book_for_caller": lambda w, lang: [
        *_all(STAFF, office_code="seoul"),
        Visit("clerk", {"office_code": "seoul", "service": "passport-renewal", "day": THURSDAY}),
    ],
    "staff.week": lambda w, lang: [
        *_all(MANAGERS, office_code="seoul"),
        Visit("manager", {"office_code": "seoul", "start": THURSDAY}),
    ],
    # Administration
    "admin.index": lambda w, lang: [Visit("admin")],
    "admin.accounts": lambda w, lang: [
        Visit("admin"),
        Visit("admin", {"role": "clerk", "status": "active", "q": "Seoul"}),
    ],
    "admin.account_new": lambda w, lang: [Visit("admin")],
    "admin.account_edit": lambda w, lang: [
        Visit("admin", {"user_id": w.ids[name]}) for name in ("clerk_seoul", "clerk_busan", "admin")
    ],
    "admin.account_password": lambda w, lang: [Visit("admin", {"user_id": w.ids["clerk_busan"]})],
    "admin.audit_log": lambda w, lang: [
        Visit("admin"),
        Visit("admin", {"office": str(w.ids["seoul"]), "from": "2026-11-29"}),
    ],
    "admin.audit_csv": lambda w, lang: [Visit("admin")],
    "admin.mail": lambda w, lang: [Visit("admin")],
    "admin.email_texts": lambda w, lang: [Visit("admin")],
    "admin.email_text_edit": lambda w, lang: (
        [Visit("admin", {"kind": kind, "language": lang}) for kind in email_texts.KINDS]
        + [Visit("admin", {"kind": "confirmation", "language": "en"})]
    ),
    "admin.lottery_releases": lambda w, lang: [Visit("admin")],
    "admin.lottery_new": lambda w, lang: [Visit("admin")],
    "admin.lottery_edit": lambda w, lang: [
        Visit("admin", {"release_id": w.ids[name]}) for name in ("drawn_lottery", "lottery")
    ],
    "admin.lottery_log": lambda w, lang: [
        Visit("admin", {"release_id": w.ids["drawn_lottery"]}),
        Visit("admin", {"release_id": w.ids["drawn_lottery"], "verify": "1"}),
    ],
    "admin.offices": lambda w, lang: [Visit("admin")],
    "admin.office_new": lambda w, lang: [Visit("admin")],
    "admin.office_edit": lambda w, lang: [
        Visit("admin", {"office_id": w.ids[name]}) for name in ("seoul", "busan")
    ],
    "admin.services": lambda w, lang: [Visit("admin")],
    "admin.service_new": lambda w, lang: [Visit("admin")],
    "admin.service_edit": lambda w, lang: [
        Visit("admin", {"service_id": service_id}) for service_id in w.service_ids
    ],
    "admin.reports": lambda w, lang: [
        Visit("admin"),
        Visit("admin", {"office": "seoul", "from": "2026-11-29", "to": "2026-12-05"}),
    ],
    **{
        endpoint: lambda w, lang: [
            Visit("admin"),
            Visit("admin", {"office": "seoul", "from": "2026-11-29", "to": "2026-12-05"}),
            Visit("admin", {"office": "all", "from": "2026-11-29", "to": "2026-12-05"}),
        ]
        for endpoint in ("admin.report_hours", "admin.report_desks")
    },
    # The test client's holds come from 127.0.0.1 and share a phone number: two clusters.
    "admin.review": lambda w, lang: [
        *_all(MANAGERS),
        Visit("admin", {"office": "seoul", "from": "2026-11-29", "to": "2026-11-30"}),
        Visit("admin", {"from": "2026-12-01"}, status=400),
    ],
    "admin.review_cluster": lambda w, lang: [
        *_all(MANAGERS, signal="network", key=_cluster_key("network", "127.0.0.0/24")),
        Visit("admin", {"signal": "phone", "key": _cluster_key("phone", "+821012345678")}),
    ],
    "admin.review_cancel": lambda w, lang: [
        Visit(
            "admin",
            {"signal": "network", "key": _cluster_key("network", "127.0.0.0/24")},
            status=302,
        )
    ],
    "admin.report_csv": lambda w, lang: [
        Visit("admin", {"table": table, "office": "seoul", "from": "2026-11-29", "to": THURSDAY})
        for table in reports.TABLES + queue_reports.QUEUE_TABLES
    ],
}


def _cluster_key(signal: str, value: str) -> str:
    return suspicion.cluster_key(SECRET, suspicion.Signal(signal), value)


def get_endpoints(app: Flask) -> set[str]:
    """Every endpoint that answers GET."""
    return {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}


def test_every_get_route_is_in_the_list_of_pages(app: Flask) -> None:
    missing = sorted(get_endpoints(app) - set(PAGES))
    assert not missing, (
        f"GET routes with no entry in PAGES of {__name__}: {missing}. Add each, with the "
        "visitor who sees it and the URL values it needs, so that it is rendered in every "
        "language."
    )
    stale = sorted(set(PAGES) - get_endpoints(app))
    assert not stale, f"PAGES lists endpoints the app no longer has: {stale}"


# The data, made through the app


def _last_code(recipient: str, kind: str = "code") -> str:
    body = db.session.scalars(
        sa.select(OutboxMessage.text_body)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == kind)
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert body is not None, recipient
    found = re.search(r"\b(\d{6})\b", body)
    assert found is not None
    return found.group(1)


def _book(api: FlaskClient, office, service, start: datetime, iin: str, email: str):
    """Book a visit through the API and confirm it with the emailed code."""
    body = booking_body(
        office,
        [service],
        start,
        applicant={"iin": iin, "email": email},
        details={"current_passport": {"expiry_date": "2027-03-01"}},
    )
    held = api.post("/api/v1/appointments", json=body)
    assert held.status_code == 201, held.get_json()
    reference, token = held.get_json()["reference"], held.get_json()["manage_token"]
    confirmed = api.post(
        f"/api/v1/appointments/{reference}/confirm", json={"code": _last_code(email)}
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    return reference, token


def _redirects(response) -> None:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def _ticket(status: str) -> Ticket:
    ticket = db.session.scalars(
        sa.select(Ticket).where(Ticket.status == status).order_by(Ticket.id.desc())
    ).first()
    assert ticket is not None, status
    return ticket


@pytest.fixture
def world(app, offices, accounts, make_service, clock, iins) -> World:  # noqa: F811
    """Seoul's data on Monday 10:00, and a signed-in client for each viewer."""
    seoul, busan = offices
    passport = db.session.scalar(
        sa.select(ServiceType).where(ServiceType.code == "passport-renewal")
    )
    passport.detail_sets = ["current_passport"]
    birth = make_service("birth-registration", detail_sets=["child", "parents"])
    marriage = make_service("marriage-registration", detail_sets=["spouse"], duration_minutes=30)
    seoul.services.extend([birth, marriage])
    db.session.commit()
    api = app.test_client()
    references: dict[str, str] = {}
    tokens: dict[str, str] = {}
    visits = {
        "served": MONDAY_9,
        "parked": MONDAY_9 + timedelta(minutes=15),
        "no_show": MONDAY_9 + timedelta(minutes=30),
        "missed": MONDAY_9 + timedelta(minutes=45),
        "checked_in": MONDAY_9 + timedelta(hours=1, minutes=15),
        "kiosk": MONDAY_9 + timedelta(hours=1, minutes=30),
        "confirmed": WEDNESDAY_10,
        "cancelled": WEDNESDAY_10 + timedelta(hours=1),
        "affected": THURSDAY_10,
    }
    for number, (name, start) in enumerate(visits.items()):
        references[name], tokens[name] = _book(
            api, seoul, passport, start, next(iins), f"citizen{number}@example.com"
        )
    cancelled = api.post(
        f"/api/v1/appointments/{references['cancelled']}/cancel",
        json={},
        headers={"Authorization": f"Bearer {tokens['cancelled']}"},
    )
    assert cancelled.status_code == 200, cancelled.get_json()

    # Two lotteries of January days, entered on Sunday: one drawn on Monday at 10:00, one
    # taking entries until Friday.
    entrant = app.test_client()
    lottery_ids: dict[str, int] = {}
    for name, entry, first, closes in (
        ("drawn_lottery", "won", date(2027, 1, 11), MONDAY_9 + timedelta(hours=1)),
        ("lottery", "entered", date(2027, 1, 18), MONDAY_9 + timedelta(days=4)),
    ):
        release = lottery.create_release(
            db.session,
            None,
            clock(),
            lottery.ReleaseData(
                seoul.id, [passport.id], first, first + timedelta(days=4),
                clock() - timedelta(hours=1), closes, closes, 48,
            ),
        )  # fmt: skip
        db.session.commit()
        lottery_ids[name] = release.id
        email = f"{entry}@example.com"
        entered = entrant.post(
            f"/lottery/{release.id}/enter?services=passport-renewal",
            data={
                "given_name": "Aigerim",
                "family_name": "Nurlanova",
                "iin": next(iins),
                "passport_number": "N12345678",
                "email": email,
                "phone": "010-1234-5678",
                "current_passport__expiry_date": "2027-03-01",
                "preference_day_1": (first + timedelta(days=1)).isoformat(),
                "preference_part_1": "morning",
                "accept_any": "y",
            },
        )
        _redirects(entered)
        references[entry] = entered.headers["Location"].rsplit("/", 1)[1]
        code = _last_code(email, "lottery_code")
        _redirects(entrant.post(f"/lottery/entries/{references[entry]}", data={"code": code}))

    # Passport renewals have a waiting list: one entrant waits for a Saturday (never open),
    # another is offered a Wednesday seat as soon as the code is entered.
    passport.waitlist_mode = "fifo"
    db.session.commit()
    for name, day in (("waiting", "2026-12-05"), ("waitlist_offer", "2026-12-02")):
        email = f"{name}@example.com"
        joined = entrant.post(
            "/waitlist/join/seoul?services=passport-renewal",
            data={
                "first_day": day,
                "last_day": day,
                "given_name": "Aigerim",
                "family_name": "Nurlanova",
                "iin": next(iins),
                "passport_number": "N12345678",
                "email": email,
                "phone": f"010-5555-000{len(references) % 10}",
                "current_passport__expiry_date": "2027-03-01",
            },
        )
        _redirects(joined)
        references[name] = joined.headers["Location"].rsplit("/", 1)[1]
        code = _last_code(email, "waitlist_code")
        _redirects(entrant.post(f"/waitlist/{references[name]}", data={"code": code}))
    joined_mail = db.session.scalars(
        sa.select(OutboxMessage.text_body).where(
            OutboxMessage.kind == "waitlist_joined",
            OutboxMessage.recipient == "waiting@example.com",
        )
    ).one()
    link = re.search(rf"/waitlist/{references['waiting']}/(\S+)", joined_mail)
    assert link is not None
    tokens["waiting"] = link.group(1)

    clock.set(MONDAY_9 + timedelta(hours=1))
    citizen = app.test_client()
    for name in ("confirmed", "cancelled", "served"):
        _redirects(citizen.get(f"/manage/{references[name]}/{tokens[name]}"))

    # The January lottery is drawn at 10:00: its one entrant wins.
    drawn = lottery.draw(
        db.session, lottery_ids["drawn_lottery"], clock(), lottery.policy_from_config(app.config)
    )
    db.session.commit()
    assert drawn is not None and drawn.offered == 1
    won = db.session.scalars(
        sa.select(OutboxMessage.text_body).where(OutboxMessage.kind == "lottery_won")
    ).one()
    link = re.search(rf"/lottery/entries/{references['won']}/(\S+)", won)
    assert link is not None
    tokens["won"] = link.group(1)
    held = citizen.post(
        "/book/seoul/hold",
        data={
            "given_name": "Aigerim",
            "family_name": "Nurlanova",
            "iin": next(iins),
            "passport_number": "N12345678",
            "email": "held@example.com",
            "phone": "010-1234-5678",
            "current_passport__expiry_date": "2027-03-01",
            "services": "passport-renewal",
            "start": TUESDAY_11.isoformat(),
        },
    )
    _redirects(held)
    references["held"] = held.headers["Location"].rsplit("/", 1)[1]
    # The citizen's answers for a Wednesday visit, kept for the review page.
    drafted = citizen.post(
        f"/book/seoul/details?services=passport-renewal&start={quote(WEDNESDAY_10.isoformat())}",
        data={
            "given_name": "Aigerim",
            "family_name": "Nurlanova",
            "iin": next(iins),
            "passport_number": "N12345678",
            "email": "draft@example.com",
            "phone": "010-1234-5678",
            "current_passport__expiry_date": "2027-03-01",
        },
    )
    assert drafted.status_code == 303, drafted.get_data(as_text=True)[:500]

    clients = {"anonymous": app.test_client(), "citizen": citizen, "entrant": entrant}
    for viewer, account in (
        ("clerk", "clerk_seoul"),
        ("manager", "manager_seoul"),
        ("admin", "admin"),
    ):
        clients[viewer] = app.test_client()
        _redirects(sign_in(clients[viewer], accounts[account].email))

    # The clerk's morning: every ticket status, and a visitor at the desk.
    clerk = clients["clerk"]
    desk = db.session.scalar(sa.select(Desk).where(Desk.office_id == seoul.id))
    _redirects(clerk.post("/staff/seoul/desk", data={"desk": desk.id}))
    for name in ("served", "parked", "missed", "checked_in"):
        _redirects(clerk.post("/staff/seoul/check-in", data={"reference": references[name]}))
    no_show = f"/staff/seoul/appointments/{references['no_show']}/no-show"
    _redirects(clerk.post(no_show, data={"confirm": "y"}))
    for urgent in ("", "y", ""):
        walk_in = {"service": passport.id, "note": "Lost passport", "urgent": urgent}
        _redirects(clerk.post("/staff/seoul/walk-in", data=walk_in))
    # Called in order: the urgent walk-in, then 09:00, 09:15, 09:45, the first walk-in.
    for action, times in (("serve", 1), ("serve", 1), ("park", 1), ("recall", 3)):
        _redirects(clerk.post("/staff/seoul/call-next"))
        ticket_id = _ticket(TicketStatus.CALLED).id
        for _time in range(times):
            _redirects(clerk.post(f"/staff/seoul/tickets/{ticket_id}/{action}"))
    _redirects(clerk.post("/staff/seoul/call-next"))
    statuses = sorted(db.session.scalars(sa.select(Ticket.status)))
    assert statuses == ["called", "missed", "parked", "served", "served", "waiting", "waiting"]

    # The manager starts the waiting-room tablet, where a visitor takes a walk-in ticket and
    # the booked visitor of 11:15 checks in (after the morning above, so as to change none of it).
    clients["kiosk"] = app.test_client()
    _redirects(sign_in(clients["kiosk"], accounts["manager_seoul"].email))
    assert clients["kiosk"].post("/kiosk/seoul/start").status_code == 303
    kiosk_ids = {}
    for name, path, data in (
        ("kiosk_walk_in", "/kiosk/seoul/walk-in", {"service": passport.id}),
        ("kiosk_check_in", "/kiosk/seoul/appointment", {"reference": references["kiosk"]}),
    ):
        taken = clients["kiosk"].post(path, data=data)
        assert taken.status_code == 303, taken.headers.get("Location")
        kiosk_ids[name] = int(taken.headers["Location"].rsplit("/", 1)[1])

    # The manager closes Thursday: the booking there waits for a decision.
    closure = {"first_day": THURSDAY, "last_day": THURSDAY, "reason": "Staff training"}
    _redirects(clients["manager"].post("/staff/seoul/schedule/closures", data=closure))

    # The administrator customises an email and resets a clerk's password.
    admin = clients["admin"]
    wording = email_texts.default_text("confirmation", "en")
    edited = {"subject": "Booked: " + wording.subject, "body": wording.body, "save": "Save"}
    _redirects(admin.post("/admin/email-texts/confirmation/en", data=edited))
    _redirects(admin.post(f"/admin/accounts/{accounts['clerk_busan'].id}/reset-password"))

    # The administrator has an authenticator app, a passkey and recovery codes; a new
    # sign-in stops at the second step.
    app_secret = second_factors.start_authenticator_app(db.session, accounts["admin"], clock())
    app_secret.confirmed_at = clock()
    db.session.add(
        Passkey(
            user_id=accounts["admin"].id,
            credential_id=b"credential",
            public_key=b"key",
            name="Desk key",
            created_at=clock(),
        )
    )
    second_factors.new_recovery_codes(db.session, accounts["admin"], clock())
    db.session.commit()
    clients["pending"] = app.test_client()
    assert sign_in(clients["pending"], accounts["admin"].email).location == "/staff/sign-in/verify"

    db.session.expire_all()
    return World(
        clients=clients,
        references=references,
        tokens=tokens,
        ids={
            "seoul": seoul.id,
            "busan": busan.id,
            **{name: user.id for name, user in accounts.items()},
            **lottery_ids,
            **kiosk_ids,
            "seoul_monday_morning": min(
                (p for p in seoul.opening_periods if p.weekday == 0), key=lambda p: p.opens_at
            ).id,
        },
        service_ids=[s.id for s in (passport, birth, marriage)],
        services=[passport.code, birth.code, marriage.code],
    )


def missing_security_headers(response, endpoint: str) -> list[str]:
    """The security headers the answer lacks (tests/test_security_headers.py says why)."""
    from tests.test_security_headers import missing_headers

    return missing_headers(response, endpoint)


def _page_problem(response, language: str, standalone: bool) -> str | None:
    """What is wrong with a page that answered 200 in `language`, if anything."""
    if response.mimetype != "text/html":
        return None
    page = response.get_data(as_text=True)
    if f'<html lang="{language}">' not in page:
        found = re.search(r"<html[^>]*>", page)
        return f"not in {language}: {found.group(0) if found else 'no <html> element'}"
    if not standalone:
        with force_locale(language):
            skip_link = str(escape(_("Skip to main content")))
        if skip_link not in page:
            return f"the layout is not translated: {skip_link!r} is missing"
    return None


def _problems_in(app: Flask, world: World, language: str) -> tuple[list[str], set[str]]:
    """Request every page in `language`: what went wrong, and the endpoints requested."""
    for client in world.clients.values():
        _redirects(client.post("/language", data={"language": language, "next": "/"}))
    problems: list[str] = []
    visited: set[str] = set()
    for endpoint, visits in sorted(PAGES.items()):
        for visit in visits(world, language):
            with app.test_request_context():
                url = url_for(endpoint, **visit.values)
            response = world.clients[visit.viewer].get(url, headers=visit.headers)
            visited.add(endpoint)
            where = f"{language} {visit.viewer} GET {url}"
            if missing := missing_security_headers(response, endpoint):
                problems.append(f"{where}: without {missing}")
            if response.status_code != visit.status:
                problems.append(f"{where}: {response.status_code}, expected {visit.status}")
            elif response.status_code == 200 and (
                problem := _page_problem(response, language, endpoint in STANDALONE)
            ):
                problems.append(f"{where}: {problem}")
            response.close()  # a static file stays open until its response is closed
    return problems, visited


@pytest.mark.slow
def test_every_page_renders_in_every_language(app: Flask, world: World) -> None:
    """One world for the four languages: making it costs as much as showing every page."""
    problems: list[str] = []
    for language in LANGUAGES:
        found, visited = _problems_in(app, world, language)
        problems += found
        assert visited == get_endpoints(app), sorted(get_endpoints(app) - visited)
    assert not problems, "\n".join(problems)
