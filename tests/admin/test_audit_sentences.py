"""The audit log reads in the viewer's language: appointments by reference, weekdays by name,
and the message a closure of online booking showed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry
from consular.services import schedule
from tests.staff.conftest import book, sign_in

TUESDAY_10 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def _log(app, accounts, language: str) -> str:
    client = app.test_client()
    sign_in(client, accounts["admin"].email)
    client.post("/language", data={"language": language})
    return client.get("/admin/audit").text


def test_entries_name_appointments_weekdays_and_the_closed_message(
    app, offices, accounts, clock, iins
) -> None:
    seoul, _ = offices
    manager = accounts["manager_seoul"]
    visit = book(seoul, TUESDAY_10, next(iins), clock())
    schedule.add_closure(
        db.session, seoul, date(2026, 12, 1), date(2026, 12, 1), "Works", manager, clock(), 60
    )
    schedule.keep_affected(db.session, visit, manager, clock())
    monday = next(p for p in seoul.opening_periods if p.weekday == 0 and p.opens_at == time(9))
    schedule.change_period(
        db.session, seoul, monday.id, time(10), time(12, 30), 3, None, manager, clock(), 60
    )
    schedule.update_booking_settings(
        db.session,
        seoul,
        False,
        {"en": "Booking pauses until Monday.", "ru": "Запись приостановлена."},
        20,
        manager,
        clock(),
        60,
    )
    db.session.commit()
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "booking_settings")
    ).one()
    assert entry.after["message"] == {
        "en": "Booking pauses until Monday.",
        "ru": "Запись приостановлена.",
    }

    english = _log(app, accounts, "en")
    assert f"Appointment {visit.reference}" in english
    assert "appointment #" not in english
    assert "Added</span>: Monday 10:00–12:30, 3 desks" in english
    assert "Removed</span>: Monday 09:00–12:30, 2 desks" in english
    assert "0 09:00-12:30" not in english
    assert "Public message when closed" in english
    assert "Booking pauses until Monday." in english and "Запись приостановлена." in english

    russian = _log(app, accounts, "ru")
    assert "понедельник 10:00–12:30" in russian
