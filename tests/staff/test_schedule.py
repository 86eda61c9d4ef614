"""Managers shape the schedule; changes regenerate slots and never drop bookings silently."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from consular.extensions import db
from consular.models import Appointment, AuditEntry, Closure, OutboxMessage, Slot, Status
from consular.services import booking
from tests.conftest import SECRET, booking_body
from tests.staff.conftest import sign_in

POLICY = booking.BookingPolicy(secret=SECRET)
TUESDAY_10 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 in Seoul


def _book(office, start, clock, iin="850502401238", language="ru") -> Appointment:
    body = booking_body(
        office, [office.services[0]], start, applicant={"iin": iin}, language=language
    )
    request = booking.parse_booking_request(db.session, body, clock(), POLICY)
    placed = booking.place_hold(db.session, request, clock(), POLICY)
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
    db.session.commit()
    return placed.appointment


def _manager(app, accounts):
    client = app.test_client()
    assert sign_in(client, accounts["manager_seoul"].email).status_code == 302
    return client


def test_clerks_may_not_open_the_schedule(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)
    assert client.get("/staff/seoul/schedule").status_code == 403
    assert client.post("/staff/seoul/schedule/closures", data={}).status_code == 403
    other = app.test_client()
    sign_in(other, accounts["manager_seoul"].email)
    assert other.get("/staff/busan/schedule").status_code == 404
    assert other.get("/staff/seoul/schedule").status_code == 200


def test_a_closure_removes_free_slots_and_lists_booked_ones(app, offices, accounts, clock):
    seoul, _ = offices
    appointment = _book(seoul, TUESDAY_10, clock)
    client = _manager(app, accounts)
    response = client.post(
        "/staff/seoul/schedule/closures",
        data={"first_day": "2026-12-01", "last_day": "2026-12-01", "reason": "Power works"},
        follow_redirects=True,
    )
    assert "outside the schedule" in response.text
    assert appointment.reference in response.text
    day_slots = db.session.scalars(
        sa.select(Slot).where(
            Slot.office_id == seoul.id,
            Slot.starts_at >= TUESDAY_10 - timedelta(hours=1),
            Slot.starts_at < TUESDAY_10 + timedelta(hours=8),
        )
    ).all()
    assert [s.starts_at for s in day_slots] == [TUESDAY_10]  # only the booked one is left
    assert day_slots[0].capacity == day_slots[0].booked == 1  # and it takes nobody new
    assert (
        db.session.scalar(sa.select(Closure.reason).where(Closure.kind == "manual"))
        == "Power works"
    )


def test_the_manager_keeps_or_cancels_each_affected_booking(app, offices, accounts, clock, iins):
    seoul, _ = offices
    kept = _book(seoul, TUESDAY_10, clock, iin=next(iins))
    cancelled = _book(seoul, TUESDAY_10 + timedelta(hours=1), clock, iin=next(iins), language="ko")
    client = _manager(app, accounts)
    client.post(
        "/staff/seoul/schedule/closures",
        data={"first_day": "2026-12-01", "reason": "Power works"},
    )
    client.post(f"/staff/seoul/schedule/affected/{kept.reference}/keep")
    client.post(
        f"/staff/seoul/schedule/affected/{cancelled.reference}/cancel",
        data={"message_ko": "We are sorry for the inconvenience.", "message_ru": "Извините."},
    )
    db.session.expire_all()
    assert kept.status == Status.CONFIRMED and cancelled.status == Status.CANCELLED
    page = client.get("/staff/seoul/schedule").text
    assert kept.reference not in page and cancelled.reference not in page
    email = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "schedule_change")
    ).one()
    assert email.recipient == cancelled.email
    assert "We are sorry for the inconvenience." in email.text_body
    assert "/book" in email.text_body
    # Running the slot job again does not bring the kept booking back into the list.
    app.test_cli_runner().invoke(args=["slots", "extend"])
    assert kept.reference not in client.get("/staff/seoul/schedule").text
    actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {"add_closure", "keep_outside_schedule", "cancel_for_schedule"} <= actions


def test_changing_hours_regenerates_slots(app, offices, accounts) -> None:
    seoul, _ = offices
    client = _manager(app, accounts)
    response = client.post(
        "/staff/seoul/schedule/periods",
        data={"weekday": ["5"], "opens_at": "10:00", "closes_at": "12:00", "desks": "4"},
    )
    assert response.status_code == 302
    saturday = date(2026, 12, 5)
    slots = [
        s
        for s in db.session.scalars(sa.select(Slot).where(Slot.office_id == seoul.id))
        if s.starts_at.astimezone(seoul.zone).date() == saturday
    ]
    assert len(slots) == 8 and {s.desks for s in slots} == {4}
    # 20 % of the day's 32 desk-slots, rounded up: 7 seats kept for walk-ins, one per slot
    # but one (the share was once kept as whole desks per slot, rounded: 8 that day).
    assert sorted(s.capacity for s in slots) == [3] * 7 + [4]
    assert sum(s.desks - s.capacity for s in slots) == 7
    overlapping = client.post(
        "/staff/seoul/schedule/periods",
        data={"weekday": ["5"], "opens_at": "11:00", "closes_at": "13:00", "desks": "1"},
        follow_redirects=True,
    )
    assert "overlap" in overlapping.text


def test_closing_online_booking_needs_a_message(app, offices, accounts) -> None:
    seoul, _ = offices
    client = _manager(app, accounts)
    refused = client.post(
        "/staff/seoul/schedule/booking", data={"booking_open": "0"}, follow_redirects=True
    )
    assert "write a message" in refused.text
    client.post(
        "/staff/seoul/schedule/booking",
        data={"booking_open": "0", "message_en": "Closed until Monday.", "walk_in_share": "15"},
    )
    db.session.refresh(seoul)
    assert seoul.booking_open is False and seoul.walk_in_share == 15
    assert "Closed until Monday." in app.test_client().get("/book/seoul").text


def test_block_and_reopen_a_slot_from_the_week_view(app, offices, accounts) -> None:
    seoul, _ = offices
    client = _manager(app, accounts)
    page = client.get("/staff/seoul/week?start=2026-12-01").text
    assert "0 / 2" in page
    slot = db.session.scalar(
        sa.select(Slot).where(Slot.starts_at == TUESDAY_10, Slot.office_id == seoul.id)
    )
    client.post(f"/staff/seoul/slots/{slot.id}/block")
    db.session.refresh(slot)
    assert slot.is_blocked
    availability = (
        app.test_client()
        .get(
            "/api/v1/offices/seoul/availability?services=passport-renewal&from=2026-12-01&to=2026-12-01"
        )
        .get_json()["slots"]
    )
    assert (
        next(s for s in availability if s["start"] == "2026-12-01T10:00:00+09:00")["available"] == 0
    )
    client.post(f"/staff/seoul/slots/{slot.id}/reopen")
    db.session.refresh(slot)
    assert not slot.is_blocked


def test_appointment_statuses_are_shown_in_the_staffs_language(app, offices, accounts, clock):
    seoul, _ = offices
    appointment = _book(seoul, TUESDAY_10, clock)
    client = app.test_client()
    sign_in(client, accounts["clerk_seoul"].email)
    client.post("/language", data={"language": "ru", "next": "/"})
    page = client.get("/staff/seoul?day=2026-12-01").text
    assert appointment.reference in page
    assert "подтверждена" in page and ">confirmed" not in page


def test_a_closure_reason_is_public_unless_the_manager_keeps_it_for_staff(app, offices, accounts):
    client = _manager(app, accounts)
    client.post(
        "/staff/seoul/schedule/closures",
        data={"first_day": "2026-12-01", "reason": "Staff training", "reason_shown": "public"},
    )
    client.post(
        "/staff/seoul/schedule/closures",
        data={"first_day": "2026-12-02", "reason": "Inspection", "reason_shown": "staff"},
    )
    shown = dict(
        db.session.execute(
            sa.select(Closure.reason, Closure.is_reason_public).where(Closure.kind == "manual")
        ).all()
    )
    assert shown == {"Staff training": True, "Inspection": False}
    page = client.get("/staff/seoul/schedule").text
    assert 'Inspection <span class="tag">staff only</span>' in page


def test_each_citizen_is_emailed_the_message_written_in_their_language(
    app, offices, accounts, clock, iins
):
    seoul, _ = offices
    by_language = {
        language: _book(seoul, TUESDAY_10 + timedelta(minutes=30 * n), clock, next(iins), language)
        for n, language in enumerate(["kk", "ru", "en", "ko"])
    }
    client = _manager(app, accounts)
    client.post(
        "/staff/seoul/schedule/closures", data={"first_day": "2026-12-01", "reason": "Works"}
    )
    page = client.get("/staff/seoul/schedule").text
    # Each citizen's language is listed, and each language's message is prefilled.
    for name in ("Қазақша", "Русский", "English", "한국어"):
        assert f">{name}</td>" in page
    for language in ("kk", "ru", "en", "ko"):
        assert f'name="message_{language}" class="input" lang="{language}"' in page
    assert "no longer fits in them" in page
    messages = {
        "message_kk": "Кешіріңіз, кеңсе жұмыс уақытын өзгертті.",
        "message_ru": "Извините, консульство изменило часы работы.",
        "message_en": "Sorry, the office changed its hours.",
        "message_ko": "",
    }
    for appointment in by_language.values():
        assert (
            client.post(
                f"/staff/seoul/schedule/affected/{appointment.reference}/cancel", data=messages
            ).status_code
            == 302
        )
    emails = {
        m.appointment_id: m.text_body
        for m in db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "schedule_change")
        )
    }
    assert len(emails) == 4
    for language, appointment in by_language.items():
        body = emails[appointment.id]
        for field, text in messages.items():
            if text:
                assert (text in body) == (field == f"message_{language}"), (language, field)
    # The Korean message was left empty: the email carries none, and no other language's.
    korean = emails[by_language["ko"].id]
    assert not any(text and text in korean for text in messages.values())
    entry = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "cancel_for_schedule",
            AuditEntry.entity_id == str(by_language["ru"].id),
        )
    ).one()
    assert entry.after == {"message": messages["message_ru"], "language": "ru"}


def test_the_decide_below_message_appears_only_when_something_is_listed(
    app, offices, accounts, clock
):
    seoul, _ = offices
    appointment = _book(seoul, TUESDAY_10, clock)
    client = _manager(app, accounts)
    first = client.post(
        "/staff/seoul/schedule/closures",
        data={"first_day": "2026-12-01", "reason": "Works"},
        follow_redirects=True,
    )
    assert "decide below what happens to them" in first.text
    client.post(f"/staff/seoul/schedule/affected/{appointment.reference}/keep")
    # The kept booking still sits outside the schedule, but waits for no decision.
    later = client.post(
        "/staff/seoul/schedule/closures",
        data={"first_day": "2026-12-02", "reason": "More works"},
        follow_redirects=True,
    )
    assert "The closure is saved and the slots updated." in later.text
    assert "decide below" not in later.text
    assert "Appointments outside the new schedule" not in later.text
