"""The retention purge erases the personal data of old visits, everywhere in the database,
and keeps anonymous records, so that reports give the same numbers afterwards."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentService,
    AuditEntry,
    Base,
    Desk,
    ManageToken,
    OutboxMessage,
    Role,
    Status,
    Ticket,
    User,
)
from consular.services import booking, queue
from consular.services.passwords import hash_password
from consular.services.retention import line_placeholder, purge_personal_data
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
# Visits in the week of 30 November 2026; the purge runs 181 days after its Friday.
PURGE_AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC) + timedelta(days=181)


@dataclass
class World:
    """The appointments of the scenario, by what happened to them."""

    served: Appointment
    no_show: Appointment
    cancelled: Appointment
    abandoned_hold: Appointment
    expired: Appointment
    checked_in: Appointment
    confirmed: Appointment
    recent: Appointment

    @property
    def purged(self) -> list[Appointment]:
        return [self.served, self.no_show, self.cancelled, self.abandoned_hold, self.expired]

    @property
    def active(self) -> list[Appointment]:
        return [self.checked_in, self.confirmed]


class People:
    """Applicants whose every detail is different from everyone else's."""

    def __init__(self, iins) -> None:
        self.iins = iins
        self.number = 0

    def __call__(self, iin: str | None = None) -> dict[str, str]:
        self.number += 1
        n = self.number
        return {
            "given_name": f"Given{'abcdefghij'[n]}",
            "family_name": f"Family{'abcdefghij'[n]}ova",
            "iin": iin or next(self.iins),
            "passport_number": f"N{54000000 + n}",
            "email": f"person{n}@example.com",
            "phone": f"010-3{n:03d}-4{n:03d}",
        }


@pytest.fixture
def world(make_office, make_service, clock, iins) -> World:
    """Eight visits: five over and old, two old but never closed, one recent."""
    passport, visa = make_service("passport"), make_service("visa")
    office = make_office("seoul", services=[passport, visa])
    clerk = User(
        email="clerk@example.org",
        name="Clerk",
        role=Role.CLERK,
        password_hash=hash_password("x" * 12),
        offices=[office],
    )
    desk = Desk(office=office, name="1")
    db.session.add_all([clerk, desk])
    db.session.commit()
    person = People(iins)

    def hold(start: datetime, services=(passport,), **applicant: str) -> booking.HoldPlaced:
        body = booking_body(office, list(services), start, applicant=applicant or person())
        request = booking.parse_booking_request(db.session, body, clock(), POLICY)
        placed = booking.place_hold(db.session, request, clock(), POLICY)
        db.session.commit()
        return placed

    def book(start: datetime, services=(passport,), **applicant: str) -> Appointment:
        placed = hold(start, services, **applicant)
        booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
        db.session.commit()
        return placed.appointment

    served = book(MONDAY_9, (passport, visa))
    no_show = book(MONDAY_9 + timedelta(hours=1))
    checked_in = book(MONDAY_9 + timedelta(hours=2), (visa,))
    cancelled = book(MONDAY_9 + timedelta(days=2))
    booking.cancel_appointment(db.session, cancelled, "GivenZ FamilyZ cannot come", clock(), POLICY)
    abandoned_hold = hold(MONDAY_9 + timedelta(days=3)).appointment
    expired = hold(MONDAY_9 + timedelta(days=4)).appointment
    clock.advance(minutes=POLICY.hold_minutes + 1)
    confirmed = book(MONDAY_9 + timedelta(days=4))  # in the same slot: expires the hold
    recent = book(MONDAY_9 + timedelta(days=56), (visa,))
    booking.issue_manage_token(db.session, served, clock(), POLICY)
    db.session.commit()

    clock.set(MONDAY_9 - timedelta(hours=1))  # early: the tickets get a note
    for visitor in (served, checked_in):
        queue.check_in(db.session, visitor, clerk, clock())
    ticket = queue.call_next(db.session, office, desk, clerk, clock())
    assert ticket is not None and ticket.appointment_id == served.id
    queue.serve(db.session, ticket, clerk, clock())
    # A no-show once the visit's time has passed.
    clock.set(no_show.starts_at)
    queue.mark_no_show(db.session, no_show, clerk, clock(), grace=timedelta(0))
    db.session.commit()

    clock.set(recent.starts_at - timedelta(minutes=30))
    ticket = queue.check_in(db.session, recent, clerk, clock())
    queue.call_next(db.session, office, desk, clerk, clock())
    queue.serve(db.session, ticket, clerk, clock())
    db.session.commit()

    clock.set(PURGE_AT)
    world = World(
        served=served,
        no_show=no_show,
        cancelled=cancelled,
        abandoned_hold=abandoned_hold,
        expired=expired,
        checked_in=checked_in,
        confirmed=confirmed,
        recent=recent,
    )
    db.session.expire_all()
    assert [a.status for a in world.purged] == ["served", "no_show", "cancelled", "held", "expired"]
    assert [a.status for a in world.active] == ["checked_in", "confirmed"]
    assert world.recent.status == Status.SERVED
    return world


def personal_values(appointment: Appointment) -> list[str]:
    """The details that identify the applicant, as stored."""
    return [
        appointment.given_name,
        appointment.family_name,
        appointment.iin,
        appointment.passport_number,
        appointment.email,
        appointment.phone,
    ]


def database_text(*, skip: tuple[str, ...] = ()) -> str:
    """Every value of every row of every table (but `skip`), as text, in lower case."""
    chunks: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name in skip:
            continue
        for row in db.session.execute(sa.select(table)):
            chunks.extend(str(value) for value in row)
    return "\n".join(chunks).lower()


def report_numbers() -> dict[str, Any]:
    """What reports count: visits by status, office, service and day, and lead times."""
    appointments = db.session.execute(
        sa.select(
            Appointment.status,
            Appointment.office_id,
            Appointment.starts_at,
            Appointment.ends_at,
            Appointment.created_at,
            Appointment.confirmed_at,
            Appointment.cancelled_at,
            Appointment.served_at,
            Appointment.language,
        )
    ).all()
    services = db.session.execute(
        sa.select(AppointmentService.service_type_id, Appointment.status).join(
            Appointment, Appointment.id == AppointmentService.appointment_id
        )
    ).all()
    return {
        "status": Counter(a.status for a in appointments),
        "office": Counter(a.office_id for a in appointments),
        "service": Counter(services),
        "day": Counter(a.starts_at.date() for a in appointments),
        "lead_times": sorted(a.starts_at - a.created_at for a in appointments),
        "durations": sorted(a.ends_at - a.starts_at for a in appointments),
        "confirmed": sorted(str(a.confirmed_at) for a in appointments),
        "cancelled": sorted(str(a.cancelled_at) for a in appointments),
        "served": sorted(str(a.served_at) for a in appointments),
        "language": Counter(a.language for a in appointments),
        "tickets": Counter(db.session.scalars(sa.select(Ticket.status))),
        "outbox": Counter(db.session.execute(sa.select(OutboxMessage.kind, OutboxMessage.status))),
        "audit": Counter(db.session.scalars(sa.select(AuditEntry.action))),
    }


def row(model: type[Base], **criteria: Any) -> list[dict[str, Any]]:
    table = model.__table__
    query = sa.select(table).where(*(table.c[k] == v for k, v in criteria.items()))
    return [dict(r._mapping) for r in db.session.execute(query.order_by(table.c.id))]


def everything_about(appointment: Appointment) -> dict[str, Any]:
    """Every stored row about one appointment."""
    ticket_ids = [t["id"] for t in row(Ticket, appointment_id=appointment.id)]
    return {
        "appointment": row(Appointment, id=appointment.id),
        "lines": row(AppointmentService, appointment_id=appointment.id),
        "tokens": row(ManageToken, appointment_id=appointment.id),
        "outbox": row(OutboxMessage, appointment_id=appointment.id),
        "tickets": row(Ticket, appointment_id=appointment.id),
        "audit": row(AuditEntry, entity="appointment", entity_id=str(appointment.id))
        + [e for i in ticket_ids for e in row(AuditEntry, entity="ticket", entity_id=str(i))],
    }


def test_no_trace_of_the_purged_applicants_is_left_anywhere(world, clock):
    purged = {value.lower() for a in world.purged for value in personal_values(a)}
    kept = {value.lower() for a in [world.recent, *world.active] for value in personal_values(a)}
    assert len(purged) == 6 * len(world.purged)  # every detail distinct
    before = database_text()
    assert all(value in before for value in purged | kept)
    assert "givenz familyz" in before  # the cancellation reason

    report = purge_personal_data(db.session, clock(), 180, batch_size=2)
    db.session.commit()

    assert report.appointments == len(world.purged)
    after = database_text()
    assert [value for value in purged if value in after] == []
    assert "givenz familyz" not in after
    assert all(value in after for value in kept)
    # The reference stays on the anonymous appointment, and nowhere else links to it.
    references = {a.reference.lower() for a in world.purged}
    assert all(reference in before for reference in references)
    elsewhere = database_text(skip=("appointment",))
    assert [reference for reference in references if reference in elsewhere] == []


def test_purged_appointments_keep_everything_but_the_personal_data(world, clock):
    served_before = everything_about(world.served)
    (ticket,) = served_before["tickets"]
    assert ticket["note"] == "early"
    report = purge_personal_data(db.session, clock(), 180)
    db.session.commit()

    served = everything_about(world.served)
    (appointment,) = served["appointment"]
    assert appointment["personal_data_purged_at"] == clock()
    assert (appointment["email_key"], appointment["email_domain"]) == (None, None)
    assert {k: appointment[k] for k in ("given_name", "iin", "email", "details")} == {
        "given_name": "",
        "iin": "",
        "email": "",
        "details": {},
    }
    unchanged = set(served_before["appointment"][0]) - {
        "given_name",
        "family_name",
        "iin",
        "passport_number",
        "email",
        "email_key",
        "email_domain",
        "phone",
        "details",
        "cancel_reason",
        "personal_data_purged_at",
    }
    assert {k: appointment[k] for k in unchanged} == {
        k: served_before["appointment"][0][k] for k in unchanged
    }
    assert [(line["iin"], line["is_active"]) for line in served["lines"]] == [
        (line_placeholder(line["id"]), False) for line in served_before["lines"]
    ]
    assert [line["snapshot"] for line in served["lines"]] == [
        line["snapshot"] for line in served_before["lines"]
    ]
    assert served["tokens"] == []
    assert [(m["kind"], m["status"], m["created_at"]) for m in served["outbox"]] == [
        (m["kind"], m["status"], m["created_at"]) for m in served_before["outbox"]
    ]
    assert {
        (m["recipient"], m["subject"], m["text_body"], m["html_body"], str(m["attachments"]))
        for m in served["outbox"]
    } == {("", "", "", None, "[]")}
    assert served["tickets"][0]["note"] == ""
    assert served["tickets"][0]["label"] == ticket["label"]
    assert [(e["action"], e["at"]) for e in served["audit"]] == [
        (e["action"], e["at"]) for e in served_before["audit"]
    ]
    assert {(e["before"], e["after"]) for e in served["audit"]} == {(None, None)}
    (cancelled,) = row(Appointment, id=world.cancelled.id)
    assert cancelled["cancel_reason"] is None and cancelled["status"] == "cancelled"
    assert report.manage_tokens >= len(world.purged) + 1
    assert report.tickets == 1 and report.audit_entries == 4  # check-in, call, served, no-show


def test_reports_give_the_same_numbers_after_the_purge(world, clock):
    before = report_numbers()
    purge_personal_data(db.session, clock(), 180, batch_size=3)
    db.session.commit()
    db.session.expire_all()
    assert report_numbers() == before


def test_running_it_again_purges_nothing(world, clock):
    assert purge_personal_data(db.session, clock(), 180).appointments == len(world.purged)
    db.session.commit()
    snapshot = database_text()
    clock.advance(days=1)
    again = purge_personal_data(db.session, clock(), 180)
    db.session.commit()
    assert (again.appointments, again.outbox_messages, again.audit_entries) == (0, 0, 0)
    assert database_text() == snapshot  # not even the purge time is moved


def test_visits_still_in_progress_are_never_touched_however_old(world, clock):
    before = [everything_about(a) for a in [*world.active, world.recent]]
    assert all(b["tokens"] and b["outbox"] for b in before)
    clock.advance(days=3650)
    purge_personal_data(db.session, clock(), 180)
    db.session.commit()
    db.session.expire_all()
    assert [everything_about(a) for a in world.active] == before[:2]
    # The recent visit is purged only once its time comes.
    assert world.recent.personal_data_purged_at == clock()


def test_the_retention_period_counts_from_the_end_of_the_visit(world, clock):
    clock.set(world.recent.ends_at + timedelta(days=180))
    purge_personal_data(db.session, clock(), 180)
    db.session.commit()
    assert world.recent.personal_data_purged_at is None
    clock.advance(seconds=1)
    assert purge_personal_data(db.session, clock(), 180).appointments == 1
    db.session.commit()
    assert world.recent.personal_data_purged_at == clock() and world.recent.given_name == ""


@pytest.mark.parametrize("days", [0, -1])
def test_a_retention_period_under_a_day_is_refused(app, clock, days):
    with pytest.raises(ValueError):
        purge_personal_data(db.session, clock(), days)


def test_the_cli_command_purges_with_the_configured_period_and_reports(app, world, clock):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["retention", "purge", "--days", "400"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 appointments purged")

    assert app.config["RETENTION_DAYS"] == 180
    result = runner.invoke(args=["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("5 appointments purged (visits that ended before 2026-12-05")
    db.session.expire_all()
    assert all(a.personal_data_purged_at == clock() for a in world.purged)
    assert runner.invoke(args=["retention", "purge"]).output.startswith("0 appointments purged")

    refused = runner.invoke(args=["retention", "purge", "--days", "0"])
    assert refused.exit_code != 0
