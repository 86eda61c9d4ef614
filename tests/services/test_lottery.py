"""Lottery releases: what the draw does and what it refuses, on SQLite and PostgreSQL.

Read top to bottom as the specification: a release's days leave first-come sale; an entry
takes a place only with its e-mailed code, and one person has one place (by IIN, e-mail and
phone, refused by the database); the draw happens once, from a stored seed, and the same seed
gives the same result; seats go in draw order by preference; an offer is a hold confirmed or
declined by the winner, and a seat not taken goes to the next in line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, current_app
from flask_babel import force_locale, gettext
from sqlalchemy.orm import Session

from consular import create_app
from consular.extensions import db
from consular.models import (
    AuditEntry,
    EntryStatus,
    LotteryEntry,
    LotteryEvent,
    LotteryRelease,
    OutboxMessage,
    ReleaseState,
    Status,
    WaitlistEntry,
    WaitStatus,
)
from consular.services import booking, lottery, waitlist
from consular.services.availability import VisitRules, visit_start_times
from consular.services.errors import (
    ByLottery,
    DuplicateEntry,
    EntriesClosed,
    InvalidState,
    ValidationFailed,
    WrongCode,
)
from consular.services.fair_access import QuotaReached
from consular.services.retention import purge_personal_data
from tests.conftest import Clock, base_config, booking_body

# The test clock: Sunday 2026-11-29 12:00 in Seoul. The release gives out Monday 14
# December, 09:00-10:00 with one desk: four seats of 15 minutes.
MONDAY_14 = date(2026, 12, 14)
MONDAY_14_9 = datetime(2026, 12, 14, 0, 0, tzinfo=UTC)
TUESDAY_15_9 = MONDAY_14_9 + timedelta(days=1)
SEATS = 4


def quarter(n: int) -> datetime:
    return MONDAY_14_9 + timedelta(minutes=15 * n)


@pytest.fixture
def service(make_service):
    return make_service("passport-renewal", min_notice_hours=24)


@pytest.fixture
def other_service(make_service):
    return make_service("birth-registration", min_notice_hours=24)


@pytest.fixture
def office(make_office, service, other_service):
    hours = [(weekday, time(9), time(10), 1) for weekday in (0, 1)]
    return make_office("seoul", periods=hours, services=[service, other_service])


@pytest.fixture
def policy(app: Flask) -> lottery.LotteryPolicy:
    return lottery.policy_from_config(app.config)


def release_data(office, services, now: datetime, **changes: Any) -> lottery.ReleaseData:
    data = lottery.ReleaseData(
        office_id=office.id,
        service_ids=[s.id for s in services],
        first_day=MONDAY_14,
        last_day=MONDAY_14,
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=1),
        draw_at=now + timedelta(days=1),
        confirm_hours=48,
    )
    return replace(data, **changes)


@pytest.fixture
def make_release(office, service, clock) -> Callable[..., LotteryRelease]:
    def factory(**changes: Any) -> LotteryRelease:
        release = lottery.create_release(
            db.session, None, clock(), release_data(office, [service], clock(), **changes)
        )
        db.session.commit()
        return release

    return factory


@pytest.fixture
def release(make_release) -> LotteryRelease:
    return make_release()


class People:
    """Entrants with their own IIN, e-mail address and phone each."""

    def __init__(self, iins: Iterator[str]) -> None:
        self.iins = iins
        self.count = 0

    def data(self, **changes: Any) -> dict[str, Any]:
        self.count += 1
        applicant = {
            "given_name": "Aigerim",
            "family_name": "Nurlanova",
            "iin": next(self.iins),
            "passport_number": "N12345678",
            "email": f"person{self.count}@example.com",
            "phone": f"010-2000-{self.count:04d}",
        }
        applicant.update(changes.pop("applicant", {}))
        data = {
            "services": ["passport-renewal"],
            "language": "en",
            "applicant": applicant,
            "details": {},
            "preferences": [],
            "accept_any": True,
        }
        data.update(changes)
        return data


@pytest.fixture
def people(iins) -> People:
    return People(iins)


def enter(release, data, clock, policy) -> lottery.EntryPlaced:
    request = lottery.parse_entry(db.session, release, data, clock(), policy)
    placed = lottery.enter(db.session, request, clock(), policy)
    db.session.commit()
    return placed


def entered(release, data, clock, policy) -> LotteryEntry:
    """An entry made and verified with its code: it takes a place in the draw."""
    placed = enter(release, data, clock, policy)
    lottery.verify_entry(db.session, placed.entry, placed.code, clock(), policy)
    db.session.commit()
    return placed.entry


def draw_now(release, clock, policy, seed: str = "5eed") -> lottery.DrawResult:
    clock.set(release.draw_at)
    result = lottery.draw(db.session, release.id, clock(), policy, seed=seed)
    db.session.commit()
    assert result is not None
    return result


def starts_for(office, services, day: date, now: datetime) -> list[datetime]:
    rules = VisitRules.for_services(services)
    return [s.starts_at for s in visit_start_times(db.session, office, rules, day, day, now)]


def first_come_hold(office, services, start, now, iin="850502401238"):
    body = booking_body(office, services, start, applicant={"iin": iin})
    policy = booking.policy_from_config(current_app.config)
    request = booking.parse_booking_request(db.session, body, now, policy)
    return booking.place_hold(db.session, request, now, policy)


def emails(kind: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )


# The days of a release are not on first-come sale


def test_announcing_a_release_takes_its_days_off_first_come_sale_for_its_services(
    office, service, other_service, clock, make_release
) -> None:
    assert len(starts_for(office, [service], MONDAY_14, clock())) == SEATS

    make_release()

    assert starts_for(office, [service], MONDAY_14, clock()) == []
    # A visit that includes one of its services is kept off too; other services are not.
    assert starts_for(office, [service, other_service], MONDAY_14, clock()) == []
    assert len(starts_for(office, [other_service], MONDAY_14, clock())) == SEATS
    # The other days are on sale as before.
    assert len(starts_for(office, [service], TUESDAY_15_9.date(), clock())) == SEATS


def test_a_hold_on_a_day_of_a_release_is_refused_with_its_times(
    office, service, other_service, clock, release
) -> None:
    with pytest.raises(ByLottery) as refused:
        first_come_hold(office, [service], quarter(0), clock())
    assert "lottery" in str(refused.value.message)
    assert refused.value.field == "start"
    # Another service's visit that day is booked as usual.
    first_come_hold(office, [other_service], quarter(0), clock())
    first_come_hold(office, [service], TUESDAY_15_9, clock(), iin="900101300126")


def test_a_booking_cannot_be_moved_onto_a_day_of_a_release(
    office, service, clock, make_release, policy
) -> None:
    placed = first_come_hold(office, [service], TUESDAY_15_9, clock())
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), policy.booking)
    db.session.commit()
    make_release()

    with pytest.raises(ByLottery):
        booking.reschedule_appointment(
            db.session, placed.appointment, quarter(1), clock(), policy.booking
        )
    db.session.rollback()


def test_the_api_shows_the_release_and_refuses_a_hold_on_its_days(
    client, office, service, clock, release
) -> None:
    answer = client.get(
        "/api/v1/offices/seoul/availability?services=passport-renewal&from=2026-12-14&to=2026-12-15"
    ).get_json()

    assert {s["start"][:10] for s in answer["slots"]} == {"2026-12-15"}
    assert answer["lottery"] == [
        {
            "first_day": "2026-12-14",
            "last_day": "2026-12-14",
            "services": ["passport-renewal"],
            "entries_open": release.opens_at.astimezone(office.zone).isoformat(),
            "entries_close": release.closes_at.astimezone(office.zone).isoformat(),
            "draw_at": release.draw_at.astimezone(office.zone).isoformat(),
            "state": "open",
            "url": f"http://localhost/lottery/{release.id}",
        }
    ]
    held = client.post("/api/v1/appointments", json=booking_body(office, [service], quarter(0)))
    assert held.status_code == 409
    assert held.get_json()["error"] == "by_lottery"


def test_a_cancelled_or_finished_release_gives_its_days_back(
    office, service, clock, make_release, people, policy
) -> None:
    cancelled = make_release()
    lottery.cancel_release(db.session, None, clock(), cancelled)
    db.session.commit()
    assert len(starts_for(office, [service], MONDAY_14, clock())) == SEATS

    empty = make_release()
    draw_now(empty, clock, policy)  # nobody entered: nothing to give out
    assert empty.state == ReleaseState.FINISHED
    assert len(starts_for(office, [service], MONDAY_14, clock())) == SEATS


# Entering


def test_an_entry_takes_a_place_only_once_its_code_is_entered(
    release, people, clock, policy
) -> None:
    placed = enter(release, people.data(), clock, policy)
    entry = placed.entry
    assert entry.status == EntryStatus.UNVERIFIED and not entry.takes_place
    assert entry.reference.startswith("TAB-L-") or lottery.ENTRY_REFERENCE_PATTERN.fullmatch(
        entry.reference
    )
    code_email = emails("lottery_code")[-1]
    assert code_email.recipient == "person1@example.com"
    assert f": {placed.code}" in code_email.text_body
    assert lottery.entries_count(db.session, release.id) == 0

    lottery.verify_entry(db.session, entry, placed.code, clock(), policy)
    db.session.commit()

    assert entry.status == EntryStatus.ENTERED and entry.takes_place
    assert lottery.entries_count(db.session, release.id) == 1
    assert "/lottery/entries/" in emails("lottery_entered")[-1].text_body


def test_a_wrong_code_counts_and_too_many_end_the_entry(release, people, clock, policy) -> None:
    placed = enter(release, people.data(), clock, policy)
    for left in range(policy.booking.code_max_attempts - 1, -1, -1):
        with pytest.raises(WrongCode) as wrong:
            lottery.verify_entry(db.session, placed.entry, "000000", clock(), policy)
        db.session.commit()
        assert wrong.value.attempts_left == left
    with pytest.raises(InvalidState):
        lottery.verify_entry(db.session, placed.entry, placed.code, clock(), policy)
    db.session.rollback()


def test_the_code_must_be_entered_in_time(release, people, clock, policy) -> None:
    placed = enter(release, people.data(), clock, policy)
    clock.advance(minutes=policy.code_minutes)
    with pytest.raises(InvalidState):
        lottery.verify_entry(db.session, placed.entry, placed.code, clock(), policy)
    db.session.rollback()


@pytest.mark.parametrize(
    ("same", "field"),
    [
        ("iin", "applicant.iin"),
        ("email", "applicant.email"),
        ("phone", "applicant.phone"),
    ],
)
def test_one_person_has_one_entry_by_iin_email_and_phone(
    release, people, clock, policy, same, field
) -> None:
    first = people.data()
    entered(release, first, clock, policy)
    second = people.data()
    second["applicant"][same] = first["applicant"][same]
    if same == "email":
        second["applicant"]["email"] = "Person1@Example.com"

    with pytest.raises(DuplicateEntry) as refused:
        enter(release, second, clock, policy)
    assert refused.value.field == field
    db.session.rollback()


def test_the_database_refuses_a_second_place_when_two_entries_are_verified(
    release, people, clock, policy
) -> None:
    data = people.data()
    first = enter(release, data, clock, policy)
    second = enter(release, people.data(applicant={"iin": data["applicant"]["iin"]}), clock, policy)
    lottery.verify_entry(db.session, first.entry, first.code, clock(), policy)
    db.session.commit()

    with pytest.raises(DuplicateEntry) as refused:
        lottery.verify_entry(db.session, second.entry, second.code, clock(), policy)
    assert refused.value.field == "applicant.iin"
    db.session.rollback()
    assert lottery.entries_count(db.session, release.id) == 1


def test_an_unverified_entry_with_someone_elses_iin_does_not_lock_them_out(
    release, people, clock, policy
) -> None:
    mine = people.data()
    enter(release, people.data(applicant={"iin": mine["applicant"]["iin"]}), clock, policy)

    entry = entered(release, mine, clock, policy)

    assert entry.takes_place


def test_entries_are_taken_only_while_the_window_is_open(
    make_release, people, clock, policy
) -> None:
    release = make_release(opens_at=clock() + timedelta(hours=1))
    with pytest.raises(EntriesClosed):
        enter(release, people.data(), clock, policy)
    db.session.rollback()
    clock.advance(hours=1)
    placed = enter(release, people.data(), clock, policy)
    clock.set(release.closes_at)
    with pytest.raises(EntriesClosed):
        lottery.verify_entry(db.session, placed.entry, placed.code, clock(), policy)
    db.session.rollback()


def test_an_entry_is_checked_as_a_booking_is(release, people, clock, policy) -> None:
    data = people.data(
        applicant={"iin": "850502401239", "email": "nobody"},
        preferences=[{"day": "2026-12-15", "part": "morning"}],
        services=["passport-renewal", "unknown"],
    )
    with pytest.raises(ValidationFailed) as refused:
        lottery.parse_entry(db.session, release, data, clock(), policy)
    fields = refused.value.fields
    assert set(fields) >= {"applicant.iin", "applicant.email", "services", "preferences"}


def test_an_entry_needs_a_preference_or_any_free_time(release, people, clock, policy) -> None:
    with pytest.raises(ValidationFailed) as refused:
        lottery.parse_entry(db.session, release, people.data(accept_any=False), clock(), policy)
    assert "preferences" in refused.value.fields


def test_an_entry_can_be_withdrawn_before_the_draw_and_made_again(
    release, people, clock, policy
) -> None:
    data = people.data()
    entry = entered(release, data, clock, policy)
    lottery.withdraw_entry(db.session, entry, clock())
    db.session.commit()
    assert entry.status == EntryStatus.WITHDRAWN and not entry.takes_place

    again = entered(release, data, clock, policy)
    assert again.takes_place


# The draw


def test_the_draw_waits_for_its_time_and_happens_once(release, people, clock, policy) -> None:
    entered(release, people.data(), clock, policy)
    assert lottery.draw(db.session, release.id, clock(), policy) is None

    clock.set(release.draw_at)
    assert lottery.draw_due(db.session, clock(), policy) == [release.id]
    first = lottery.draw(db.session, release.id, clock(), policy)
    db.session.commit()
    second = lottery.draw(db.session, release.id, clock(), policy)

    assert first is not None and second is None
    db.session.refresh(release)
    assert release.state == ReleaseState.DRAWN
    assert release.seed == first.seed and len(first.seed) == 32
    assert lottery.draw_due(db.session, clock(), policy) == []
    actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert actions.count("draw_lottery_release") == 1


def test_the_order_comes_from_the_seed_and_is_logged(release, people, clock, policy) -> None:
    entries = [entered(release, people.data(), clock, policy) for _ in range(6)]
    draw_now(release, clock, policy, seed="c0ffee")

    order = lottery.draw_order("c0ffee", [e.id for e in entries])
    assert release.draw_log["order"] == order
    assert sorted(order) == sorted(e.id for e in entries)
    for entry in entries:
        db.session.refresh(entry)
        assert entry.draw_position == order.index(entry.id) + 1
    assert lottery.draw_order("c0ffee", reversed([e.id for e in entries])) == order
    assert lottery.draw_order("c0ffef", [e.id for e in entries]) != order


def test_the_same_seed_gives_the_same_draw_twice(
    make_office, service, people, clock, policy
) -> None:
    """Two offices with the same seats, the same entries made in the same order and the
    same seed: every entrant gets the same seat and place in both."""
    hours = [(0, time(9), time(10), 1)]
    results = []
    start = clock()
    for code in ("first", "second"):
        clock.set(start)
        office = make_office(code, periods=hours, services=[service])
        release = lottery.create_release(
            db.session, None, clock(), release_data(office, [service], clock())
        )
        db.session.commit()
        wishes = [
            [{"day": "2026-12-14", "part": "morning"}],
            [],
            [{"day": None, "part": "afternoon"}],
        ]
        entries = [
            entered(
                release,
                people.data(preferences=wishes[n % 3], accept_any=n % 3 != 2),
                clock,
                policy,
            )
            for n in range(7)
        ]
        draw_now(release, clock, policy, seed="a11ce")
        outcome = []
        for entry in entries:
            db.session.refresh(entry)
            start_at = entry.appointment.starts_at if entry.appointment else None
            outcome.append((entry.draw_position, entry.status, start_at))
        results.append(outcome)

    assert results[0] == results[1]
    assert sum(1 for _, status, _ in results[0] if status == EntryStatus.OFFERED) == SEATS


def test_a_draw_can_be_run_again_from_its_log(release, people, clock, policy) -> None:
    for _ in range(5):
        entered(release, people.data(), clock, policy)
    draw_now(release, clock, policy)

    check = lottery.verify_draw(db.session, release)
    assert check.ok, check.problems
    order, plan = lottery.replay(release.draw_log)
    assert order == release.draw_log["order"] and plan == release.draw_log["plan"]

    # A log changed after the draw no longer checks.
    tampered = dict(release.draw_log)
    tampered["order"] = list(reversed(tampered["order"]))
    release.draw_log = tampered
    db.session.commit()
    check = lottery.verify_draw(db.session, release)
    assert not check.ok and not check.order_matches and not check.positions_match


def test_seats_go_in_draw_order_by_each_entrants_preferences(
    release, people, clock, policy, office
) -> None:
    # Everyone wants 09:45 first (the afternoon is empty at this office): only one can.
    late = {"day": "2026-12-14", "part": None}
    entries = [
        entered(release, people.data(preferences=[late], accept_any=True), clock, policy)
        for _ in range(6)
    ]
    draw_now(release, clock, policy)
    for entry in entries:
        db.session.refresh(entry)
    by_position = sorted(entries, key=lambda e: e.draw_position)

    offered = [e for e in by_position if e.status == EntryStatus.OFFERED]
    assert offered == by_position[:SEATS]  # the first four in draw order
    assert [e.appointment.starts_at for e in offered] == [quarter(n) for n in range(SEATS)]
    assert all(e.status == EntryStatus.WAITING for e in by_position[SEATS:])


def test_a_preference_that_cant_be_met_leaves_the_entrant_in_line_unless_any_time_will_do(
    release, people, clock, policy
) -> None:
    afternoon = [{"day": None, "part": "afternoon"}]  # no afternoon hours on that Monday
    strict = entered(release, people.data(preferences=afternoon, accept_any=False), clock, policy)
    relaxed = entered(release, people.data(preferences=afternoon, accept_any=True), clock, policy)
    draw_now(release, clock, policy)
    db.session.refresh(strict)
    db.session.refresh(relaxed)

    assert strict.status == EntryStatus.WAITING and strict.appointment is None
    assert relaxed.status == EntryStatus.OFFERED


def test_winners_get_a_hold_to_confirm_and_everyone_hears_in_their_language(
    release, people, clock, policy, office
) -> None:
    languages = ["ru", "kk", "ko", "en", "ru", "ko"]
    entries = [
        entered(release, people.data(language=language), clock, policy) for language in languages
    ]
    result = draw_now(release, clock, policy)

    assert (result.entries, result.offered, result.waiting) == (6, SEATS, 2)
    for entry in entries:
        db.session.refresh(entry)
    winners = [e for e in entries if e.status == EntryStatus.OFFERED]
    for winner in winners:
        appointment = winner.appointment
        assert appointment.status == Status.HELD
        # 48 hours to confirm, within the service's 24 hours' notice before the visit.
        assert appointment.hold_expires_at == clock() + timedelta(hours=48)
    won = {m.recipient: m for m in emails("lottery_won")}
    assert set(won) == {w.email for w in winners}
    for winner in winners:
        message = won[winner.email]
        with force_locale(winner.language):
            phrase = gettext("The draw has given you an appointment.")
        assert (
            phrase in message.text_body and f'<html lang="{winner.language}">' in message.html_body
        )
        assert winner.language == "en" or phrase != "The draw has given you an appointment."
        assert f"/lottery/entries/{winner.reference}/" in message.text_body
    not_won = {m.recipient: m for m in emails("lottery_not_won")}
    waiting = sorted(
        (e for e in entries if e.status == EntryStatus.WAITING), key=lambda e: e.draw_position
    )
    assert set(not_won) == {e.email for e in waiting}
    for place, entry in enumerate(waiting, 1):
        with force_locale(entry.language):
            line = gettext(
                "You are number %(place)d in line. If a seat is declined or not confirmed, it "
                "is offered to the next person in line, and we will email you if it comes to "
                "you.",
                place=place,
            )
        assert line in not_won[entry.email].text_body
    # Holds of a draw send no code: the offer is confirmed on the entry's page.
    assert emails("code") == []


def test_an_offer_expires_before_the_services_notice(make_release, people, clock, policy) -> None:
    release = make_release(confirm_hours=336, closes_at=clock() + timedelta(days=1))
    entry = entered(release, people.data(), clock, policy)
    draw_now(release, clock, policy)
    db.session.refresh(entry)
    assert entry.appointment.hold_expires_at == entry.appointment.starts_at - timedelta(hours=24)


# After the draw


def test_a_confirmed_offer_is_a_booking(release, people, clock, policy) -> None:
    entry = entered(release, people.data(), clock, policy)
    draw_now(release, clock, policy)
    db.session.refresh(entry)

    appointment = lottery.confirm_offer(db.session, entry, clock(), policy)
    db.session.commit()

    assert appointment.status == Status.CONFIRMED
    assert entry.status == EntryStatus.BOOKED
    assert emails("confirmation")[-1].recipient == entry.email
    db.session.refresh(release)
    assert release.state == ReleaseState.FINISHED  # nobody else waits


def test_a_declined_seat_goes_to_the_next_in_line_at_once(release, people, clock, policy) -> None:
    entries = [entered(release, people.data(), clock, policy) for _ in range(SEATS + 2)]
    draw_now(release, clock, policy)
    for entry in entries:
        db.session.refresh(entry)
    by_position = sorted(entries, key=lambda e: e.draw_position)
    first, next_in_line = by_position[0], by_position[SEATS]
    seat = first.appointment.starts_at

    clock.advance(hours=1)
    lottery.decline_offer(db.session, first, clock(), policy)
    db.session.commit()
    db.session.refresh(next_in_line)

    assert first.status == EntryStatus.DECLINED
    assert first.appointment.status == Status.CANCELLED
    assert next_in_line.status == EntryStatus.OFFERED
    assert next_in_line.appointment.starts_at == seat
    assert lottery.place_in_line(db.session, by_position[SEATS + 1]) == 1


def test_an_unconfirmed_seat_goes_to_the_next_in_line_when_the_line_moves(
    release, people, clock, policy, app
) -> None:
    entries = [entered(release, people.data(), clock, policy) for _ in range(SEATS + 1)]
    draw_now(release, clock, policy)
    for entry in entries:
        db.session.refresh(entry)
    by_position = sorted(entries, key=lambda e: e.draw_position)
    late, next_in_line = by_position[1], by_position[SEATS]

    clock.advance(hours=48)
    assert lottery.offer_status(late, clock()) == EntryStatus.LAPSED
    output = app.test_cli_runner().invoke(args=["lottery", "advance"])
    assert output.exit_code == 0, output.output
    assert "seats offered" in output.output
    db.session.expire_all()

    # Everyone who was offered a seat let it lapse; the next in line gets one of them.
    assert {e.status for e in by_position[:SEATS]} == {EntryStatus.LAPSED}
    assert next_in_line.status == EntryStatus.OFFERED
    kinds = db.session.scalars(sa.select(LotteryEvent.kind)).all()
    assert kinds.count("lapsed") == SEATS and kinds.count("offered") == SEATS + 1


def test_a_late_confirmation_is_refused_and_the_seat_moves_on(
    release, people, clock, policy
) -> None:
    first, second = (entered(release, people.data(), clock, policy) for _ in range(2))
    release_seats = SEATS
    assert release_seats == 4
    draw_now(release, clock, policy)
    db.session.refresh(first)
    clock.advance(hours=49)
    with pytest.raises(lottery.OfferLapsed):
        lottery.confirm_offer(db.session, first, clock(), policy)
    db.session.commit()
    db.session.refresh(first)
    assert first.status == EntryStatus.LAPSED


def test_the_line_ends_with_the_release_s_days(release, people, clock, policy) -> None:
    afternoon = [{"day": None, "part": "afternoon"}]
    waiting = entered(release, people.data(preferences=afternoon, accept_any=False), clock, policy)
    draw_now(release, clock, policy)
    clock.set(MONDAY_14_9 + timedelta(days=1))
    lottery.advance(db.session, release.id, clock(), policy)
    db.session.commit()
    db.session.refresh(waiting)
    db.session.refresh(release)
    assert waiting.status == EntryStatus.NOT_SERVED
    assert release.state == ReleaseState.FINISHED


def test_an_entrant_who_booked_the_service_already_is_passed_over(
    release, people, clock, policy, office, service
) -> None:
    data = people.data()
    entry = entered(release, data, clock, policy)
    other = entered(release, people.data(), clock, policy)
    placed = first_come_hold(office, [service], TUESDAY_15_9, clock(), iin=data["applicant"]["iin"])
    booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), policy.booking)
    db.session.commit()

    draw_now(release, clock, policy)
    db.session.refresh(entry)
    db.session.refresh(other)

    assert entry.status == EntryStatus.INELIGIBLE
    assert other.status == EntryStatus.OFFERED


def test_a_release_can_be_cancelled_only_before_its_draw(release, people, clock, policy) -> None:
    entered(release, people.data(language="ru"), clock, policy)
    lottery.cancel_release(db.session, None, clock(), release)
    db.session.commit()
    assert release.state == ReleaseState.CANCELLED
    assert len(emails("lottery_cancelled")) == 1
    assert lottery.draw(db.session, release.id, release.draw_at, policy) is None


def test_a_drawn_release_cannot_be_cancelled_or_changed(
    release, people, clock, policy, office, service
) -> None:
    entered(release, people.data(), clock, policy)
    draw_now(release, clock, policy)
    with pytest.raises(InvalidState):
        lottery.cancel_release(db.session, None, clock(), release)
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        lottery.update_release(
            db.session, None, clock(), release, release_data(office, [service], clock())
        )
    db.session.rollback()


# Administrators' checks of a release


def test_a_release_must_be_drawn_before_its_days_and_close_after_it_opens(
    office, service, clock
) -> None:
    data = release_data(
        office,
        [service],
        clock(),
        closes_at=clock() - timedelta(hours=2),
        draw_at=MONDAY_14_9 + timedelta(hours=1),
        confirm_hours=0,
    )
    with pytest.raises(ValidationFailed) as refused:
        lottery.check_release(db.session, data, None, clock())
    assert set(refused.value.fields) >= {"closes_at", "draw_at", "confirm_hours"}


def test_two_releases_cannot_give_out_the_same_day_of_a_service(
    office, service, clock, make_release
) -> None:
    make_release()
    with pytest.raises(ValidationFailed) as refused:
        make_release()
    assert "first_day" in refused.value.fields
    db.session.rollback()


def test_once_people_entered_the_days_and_services_stay(
    release, people, clock, policy, office, service, other_service
) -> None:
    entered(release, people.data(), clock, policy)
    changed = release_data(office, [service, other_service], clock())
    with pytest.raises(ValidationFailed) as refused:
        lottery.update_release(db.session, None, clock(), release, changed)
    assert "first_day" in refused.value.fields
    db.session.rollback()
    later = release_data(office, [service], clock(), draw_at=clock() + timedelta(days=2))
    lottery.update_release(
        db.session, None, clock(), release, replace(later, opens_at=release.opens_at)
    )
    db.session.commit()
    assert release.draw_at == clock() + timedelta(days=2)


# Retention


def test_the_retention_purge_erases_the_entries_of_past_releases(
    release, people, clock, policy
) -> None:
    entry = entered(release, people.data(), clock, policy)
    draw_now(release, clock, policy)
    clock.set(MONDAY_14_9 + timedelta(days=181))
    report = purge_personal_data(db.session, clock(), 180)
    db.session.commit()
    db.session.refresh(entry)

    assert report.lottery_entries == 1
    assert (entry.iin, entry.email, entry.phone, entry.given_name) == ("", "", "", "")
    assert entry.personal_data_purged_at is not None and entry.tokens == []
    messages = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.lottery_entry_id == entry.id)
    ).all()
    assert messages and all(m.recipient == "" and m.text_body == "" for m in messages)
    assert lottery.verify_draw(db.session, release).ok


# Races


@pytest.fixture
def racing_app(app: Flask, database_url: str, clock: Clock) -> Iterator[Flask]:
    racing = create_app(base_config(database_url, clock))
    yield racing
    with racing.app_context():
        db.engine.dispose()


def race(racing_app: Flask, work: Callable[[Session], str], count: int = 2) -> list[str]:
    """Run `work` in `count` threads at once, each with its own session; their outcomes."""
    barrier = threading.Barrier(count)
    outcomes: list[str] = []

    def run() -> None:
        with racing_app.app_context(), racing_app.test_request_context():
            with Session(db.engine) as session:
                barrier.wait(timeout=30)
                try:
                    outcomes.append(work(session))
                    session.commit()
                except Exception as error:  # noqa: BLE001 - reported by the test
                    session.rollback()
                    outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


@pytest.mark.postgresql_only
def test_two_entries_for_one_iin_verified_at_once_one_wins(
    racing_app, release, people, clock, policy
) -> None:
    data = people.data()
    placed = [
        enter(release, people.data(applicant={"iin": data["applicant"]["iin"]}), clock, policy)
        for _ in range(2)
    ]
    pending = iter([(p.entry.id, p.code) for p in placed])
    lock = threading.Lock()

    def verify(session: Session) -> str:
        with lock:
            entry_id, code = next(pending)
        entry = session.get(LotteryEntry, entry_id)
        lottery.verify_entry(session, entry, code, clock(), policy)
        return "entered"

    assert race(racing_app, verify) == ["DuplicateEntry", "entered"]
    assert lottery.entries_count(db.session, release.id) == 1


@pytest.mark.postgresql_only
def test_the_draw_run_twice_at_once_draws_once(racing_app, release, people, clock, policy) -> None:
    for _ in range(SEATS + 1):
        entered(release, people.data(), clock, policy)
    clock.set(release.draw_at)

    def run_draw(session: Session) -> str:
        result = lottery.draw(session, release.id, clock(), policy)
        return "drawn" if result is not None else "already drawn"

    assert race(racing_app, run_draw) == ["already drawn", "drawn"]
    db.session.expire_all()
    assert len(emails("lottery_won")) == SEATS
    assert len(emails("lottery_not_won")) == 1


def test_an_entry_verified_while_the_draw_runs_is_refused_or_drawn(
    release, people, clock, policy
) -> None:
    placed = enter(release, people.data(), clock, policy)
    entered(release, people.data(), clock, policy)
    draw_now(release, clock, policy)
    clock.set(release.draw_at)
    with pytest.raises(EntriesClosed):
        lottery.verify_entry(db.session, placed.entry, placed.code, clock(), policy)
    db.session.rollback()


def test_a_private_domain_has_only_a_few_places_in_a_release_however_its_subdomains(
    release, people, clock, policy
) -> None:
    capped = replace(
        policy, booking=replace(policy.booking, quotas=replace(policy.booking.quotas,
                                                               per_private_domain=2))
    )  # fmt: skip
    for n in range(2):
        entered(release, people.data(applicant={"email": f"e{n}@x{n}.slotbot.example"}),
                clock, capped)  # fmt: skip
    with pytest.raises(QuotaReached, match="slotbot.example"):
        enter(release, people.data(applicant={"email": "e9@x9.slotbot.example"}), clock, capped)
    db.session.rollback()
    # Public providers are not counted; nor, without the setting, anything.
    for n in range(3):
        entered(release, people.data(applicant={"email": f"someone{n}@gmail.com"}), clock, capped)
    entered(release, people.data(applicant={"email": "e8@slotbot.example"}), clock, policy)


def test_entries_made_before_the_domain_filled_up_are_refused_at_their_code(
    release, people, clock, policy
) -> None:
    capped = replace(
        policy, booking=replace(policy.booking, quotas=replace(policy.booking.quotas,
                                                               per_private_domain=1))
    )  # fmt: skip
    first = enter(release, people.data(applicant={"email": "a@slotbot.example"}), clock, capped)
    second = enter(release, people.data(applicant={"email": "b@slotbot.example"}), clock, capped)
    lottery.verify_entry(db.session, first.entry, first.code, clock(), capped)
    db.session.commit()
    with pytest.raises(QuotaReached):
        lottery.verify_entry(db.session, second.entry, second.code, clock(), capped)
    db.session.rollback()


def test_one_gmail_mailbox_however_written_enters_once(release, people, clock, policy) -> None:
    entered(release, people.data(applicant={"email": "aigerim@gmail.com"}), clock, policy)
    with pytest.raises(DuplicateEntry):
        enter(release, people.data(applicant={"email": "A.igerim+again@gmail.com"}), clock, policy)
    db.session.rollback()


def test_entrants_without_a_seat_who_asked_wait_on_the_office_s_list_in_draw_order(
    release, service, people, clock, policy
) -> None:
    service.waitlist_mode = "fifo"
    db.session.commit()
    entries = [
        entered(release, people.data(wants_waitlist=n != SEATS + 1), clock, policy)
        for n in range(SEATS + 3)
    ]
    draw_now(release, clock, policy)
    for entry in entries:
        db.session.refresh(entry)
    in_line = sorted((e for e in entries if e.status == EntryStatus.WAITING),
                     key=lambda e: e.draw_position)  # fmt: skip
    asked = [e for e in in_line if e.wants_waitlist]
    waiting = db.session.scalars(
        sa.select(WaitlistEntry).order_by(WaitlistEntry.joined_at, WaitlistEntry.id)
    ).all()
    assert [w.iin for w in waiting] == [e.iin for e in asked]
    assert all(w.status == WaitStatus.WAITING for w in waiting)
    assert {(w.first_day, w.last_day) for w in waiting} == {(MONDAY_14, MONDAY_14)}
    # The release's days are its own while it is drawn: the list offers none of them.
    assert waitlist.advance(db.session, release.office, clock(), waitlist.WaitlistPolicy(
        booking=policy.booking)).offered == 0  # fmt: skip

    # One of them gets the lottery's seat after a decline: their waiting ends.
    winner = next(e for e in entries if e.status == EntryStatus.OFFERED)
    lottery.decline_offer(db.session, winner, clock(), policy)
    offered = next(e for e in asked if db.session.get(LotteryEntry, e.id).status == "offered")
    lottery.confirm_offer(db.session, offered, clock(), policy)
    db.session.commit()
    left = db.session.scalar(sa.select(WaitlistEntry).where(WaitlistEntry.iin == offered.iin))
    assert left.status == WaitStatus.LEFT


def test_without_a_list_for_the_service_nobody_is_put_on_one(
    release, people, clock, policy
) -> None:
    for _ in range(SEATS + 2):
        entered(release, people.data(wants_waitlist=True), clock, policy)
    draw_now(release, clock, policy)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WaitlistEntry)) == 0
