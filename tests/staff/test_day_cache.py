"""The day page's cache: a kept page is served while nothing it shows has changed, and only
then; it reads two statements; it is nobody's own page.

Each write the page would show raises a version in the database (consular/models/
page_versions.py), so every test here compares the page served with the cache on to the page
rendered without it, after a write through each path that changes what the page shows.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified

from consular import page_cache
from consular.extensions import db
from consular.models import (
    Appointment,
    AppointmentService,
    Desk,
    Office,
    Role,
    ServiceType,
    Ticket,
    User,
)
from consular.page_cache import KeptPage, PageCache
from consular.services import booking, queue
from consular.services.passwords import hash_password
from consular.staff.day_page import page_version
from tests.conftest import Clock
from tests.databases import REDIS_URL, missing_service
from tests.staff.conftest import MONDAY_9, PASSWORD, POLICY, book, sign_in
from tests.statements import counted_statements

THURSDAY = "/staff/seoul?day=2026-12-03"
THURSDAY_10 = MONDAY_9 + timedelta(days=3, hours=1)


def _without_tokens(html: str) -> str:
    """The page with its CSRF tokens blanked (each request signs its own)."""
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"', r'\1"', html)


def _page(client, path: str = "/staff/seoul") -> str:
    # As at the start of a request in production: nothing loaded yet.
    db.session.expunge_all()
    response = client.get(path)
    assert response.status_code == 200
    return response.text


def _statements(client, path: str = "/staff/seoul") -> int:
    db.session.expunge_all()
    with counted_statements() as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def _rendered(app, client, path: str = "/staff/seoul") -> str:
    """The page as rendered without the cache."""
    cache = app.extensions["page_cache"]
    ttl, cache.ttl = cache.ttl, 0
    try:
        return _page(client, path)
    finally:
        cache.ttl = ttl


# What a clerk at desk 1 sees of Monday


@dataclass
class Day:
    """Monday at Seoul, as the services see it: fresh objects by id (each page load starts
    with an empty session, as in production)."""

    office_id: int
    desk_id: int
    other_desk_id: int
    service_id: int
    actor_id: int
    visit_ids: list[int]
    clock: Clock
    iins: Iterator[str]
    path: str = "/staff/seoul"

    @property
    def office(self) -> Office:
        return db.session.get_one(Office, self.office_id)

    @property
    def desk(self) -> Desk:
        return db.session.get_one(Desk, self.desk_id)

    @property
    def other_desk(self) -> Desk:
        return db.session.get_one(Desk, self.other_desk_id)

    @property
    def service(self) -> ServiceType:
        return db.session.get_one(ServiceType, self.service_id)

    @property
    def actor(self) -> User:
        return db.session.get_one(User, self.actor_id)

    def visit(self, number: int) -> Appointment:
        return db.session.get_one(Appointment, self.visit_ids[number])

    def called(self) -> Ticket:
        """The first visit checked in and called to desk 1."""
        queue.check_in(db.session, self.visit(0), self.actor, self.clock())
        ticket = queue.call_next(db.session, self.office, self.desk, self.actor, self.clock())
        assert ticket is not None
        return ticket


@pytest.fixture
def day(app, offices, accounts, visits, clock, iins, clerk) -> Day:
    """Monday 09:00 at Seoul, two desks; the signed-in clerk works at desk 1."""
    seoul, _busan = offices
    desk = db.session.scalars(sa.select(Desk).where(Desk.office_id == seoul.id)).one()
    other = Desk(office=seoul, name="2")
    db.session.add(other)
    db.session.commit()
    assert clerk.post("/staff/seoul/desk", data={"desk": desk.id}).status_code == 302
    clerk.get("/staff/seoul")  # what choosing the desk said: rendered, not kept
    return Day(
        seoul.id,
        desk.id,
        other.id,
        seoul.services[0].id,
        accounts["clerk_seoul"].id,
        [visit.id for visit in visits],
        clock,
        iins,
    )


# Each write path: a generator that prepares the day, yields, then writes what the page shows.

WritePath = Callable[[Day], Iterator[None]]


def check_in(day: Day) -> Iterator[None]:
    yield
    queue.check_in(db.session, day.visit(0), day.actor, day.clock())


def call(day: Day) -> Iterator[None]:
    queue.check_in(db.session, day.visit(0), day.actor, day.clock())
    yield
    queue.call_next(db.session, day.office, day.desk, day.actor, day.clock())


def call_again(day: Day) -> Iterator[None]:
    ticket_id = day.called().id
    yield
    ticket = db.session.get_one(Ticket, ticket_id)
    queue.recall(db.session, ticket, day.actor, day.clock())


def serve(day: Day) -> Iterator[None]:
    ticket_id = day.called().id
    yield
    ticket = db.session.get_one(Ticket, ticket_id)
    queue.serve(db.session, ticket, day.actor, day.clock())


def no_show(day: Day) -> Iterator[None]:
    day.clock.advance(hours=1, minutes=30)
    yield
    queue.mark_no_show(db.session, day.visit(1), day.actor, day.clock(), grace=timedelta(0))


def park(day: Day) -> Iterator[None]:
    ticket_id = day.called().id
    yield
    ticket = db.session.get_one(Ticket, ticket_id)
    queue.park(db.session, ticket, day.actor, day.clock())


def resume(day: Day) -> Iterator[None]:
    ticket = day.called()
    queue.park(db.session, ticket, day.actor, day.clock())
    ticket_id = ticket.id
    yield
    ticket = db.session.get_one(Ticket, ticket_id)
    queue.resume(db.session, ticket, day.actor, day.clock())


def transfer(day: Day) -> Iterator[None]:
    ticket_id = day.called().id
    yield
    ticket = db.session.get_one(Ticket, ticket_id)
    queue.transfer(db.session, ticket, day.actor, day.clock(), desk=day.other_desk)


def walk_in(day: Day) -> Iterator[None]:
    yield
    queue.issue_walk_in(db.session, day.office, day.service, day.actor, day.clock())


def close_day(day: Day) -> Iterator[None]:
    day.called()
    day.clock.advance(hours=12, minutes=30)  # 21:30, the cron's hour
    yield
    queue.close_day(db.session, day.office, MONDAY_9.date(), day.clock())


def booking_confirmed(day: Day) -> Iterator[None]:
    yield
    book(day.office, MONDAY_9 + timedelta(hours=5), next(day.iins), day.clock())


def booking_confirmed_after_its_hold(day: Day) -> Iterator[None]:
    body = {
        "office": day.office.code,
        "services": [day.service.code],
        "start": (MONDAY_9 + timedelta(hours=5)).isoformat(),
        "applicant": {
            "given_name": "Later",
            "family_name": "Confirmed",
            "iin": next(day.iins),
            "passport_number": "N12345678",
            "email": "later@example.com",
            "phone": "010-1234-5678",
        },
        "language": "en",
        "details": {},
    }
    request = booking.parse_booking_request(db.session, body, day.clock(), POLICY)
    placed = booking.place_hold(db.session, request, day.clock(), POLICY)
    held_id, code = placed.appointment.id, placed.code
    yield
    held = db.session.get_one(Appointment, held_id)
    booking.confirm_hold(db.session, held, code, day.clock(), POLICY)


def booking_cancelled(day: Day) -> Iterator[None]:
    visit_id = book(day.office, THURSDAY_10, next(day.iins), day.clock()).id
    day.path = THURSDAY
    yield
    visit = db.session.get_one(Appointment, visit_id)
    booking.cancel_appointment(db.session, visit, "plans changed", day.clock(), POLICY)


def booking_rescheduled(day: Day) -> Iterator[None]:
    visit_id = book(day.office, THURSDAY_10, next(day.iins), day.clock()).id
    day.path = THURSDAY
    yield
    visit = db.session.get_one(Appointment, visit_id)
    booking.reschedule_appointment(
        db.session, visit, THURSDAY_10 + timedelta(days=1), day.clock(), POLICY
    )


def booking_rescheduled_into_the_day(day: Day) -> Iterator[None]:
    visit_id = book(day.office, THURSDAY_10 + timedelta(days=1), next(day.iins), day.clock()).id
    day.path = THURSDAY
    yield
    visit = db.session.get_one(Appointment, visit_id)
    booking.reschedule_appointment(db.session, visit, THURSDAY_10, day.clock(), POLICY)


def desk_renamed(day: Day) -> Iterator[None]:
    yield
    day.other_desk.name = "Window 7"


def desk_deactivated(day: Day) -> Iterator[None]:
    yield
    day.desk.is_active = False


def desk_added(day: Day) -> Iterator[None]:
    yield
    db.session.add(Desk(office=day.office, name="3"))


def service_renamed(day: Day) -> Iterator[None]:
    yield
    day.service.name = {"en": "Renamed service"}


def service_withdrawn_from_the_office(day: Day) -> Iterator[None]:
    yield
    office = day.office
    office.services.remove(day.service)


def office_renamed(day: Day) -> Iterator[None]:
    yield
    day.office.name = {"en": "Consular section, renamed"}


def walk_in_share_changed(day: Day) -> Iterator[None]:
    yield
    day.office.walk_in_share = 50


def service_line_changed(day: Day) -> Iterator[None]:
    yield
    line = db.session.scalars(
        sa.select(AppointmentService).where(AppointmentService.appointment_id == day.visit(0).id)
    ).one()
    line.snapshot = {**line.snapshot, "name": {"en": "Another name"}}
    flag_modified(line, "snapshot")


def appointment_updated_by_sql(day: Day) -> Iterator[None]:
    yield
    db.session.execute(
        sa.text(
            "UPDATE appointment SET given_name = 'Written', family_name = 'By SQL' WHERE id = :id"
        ),
        {"id": day.visit(1).id},
    )


def ticket_updated_by_sql(day: Day) -> Iterator[None]:
    queue.check_in(db.session, day.visit(0), day.actor, day.clock())
    yield
    db.session.execute(
        sa.text("UPDATE ticket SET is_priority = true WHERE appointment_id = :id"),
        {"id": day.visit(0).id},
    )


def walk_ins_counted_by_sql(day: Day) -> Iterator[None]:
    queue.check_in(db.session, day.visit(0), day.actor, day.clock())  # the day's counter
    yield
    db.session.execute(
        sa.text("UPDATE ticket_counter SET walk_in_slots = 4 WHERE office_id = :office"),
        {"office": day.office.id},
    )


def desks_of_todays_slots_changed_by_sql(day: Day) -> Iterator[None]:
    yield
    db.session.execute(
        sa.text("UPDATE slot SET desks = desks * 2 WHERE office_id = :office"),
        {"office": day.office.id},
    )


WRITE_PATHS: list[WritePath] = [
    check_in,
    call,
    call_again,
    serve,
    no_show,
    park,
    resume,
    transfer,
    walk_in,
    close_day,
    booking_confirmed,
    booking_confirmed_after_its_hold,
    booking_cancelled,
    booking_rescheduled,
    booking_rescheduled_into_the_day,
    desk_renamed,
    desk_deactivated,
    desk_added,
    service_renamed,
    service_withdrawn_from_the_office,
    office_renamed,
    walk_in_share_changed,
    service_line_changed,
    appointment_updated_by_sql,
    ticket_updated_by_sql,
    walk_ins_counted_by_sql,
    desks_of_todays_slots_changed_by_sql,
]


@pytest.mark.parametrize("write", WRITE_PATHS, ids=lambda write: write.__name__)
def test_the_next_page_load_shows_each_write(app, clerk, day, write: WritePath) -> None:
    steps = write(day)
    next(steps)
    db.session.commit()
    before = _page(clerk, day.path)
    assert _statements(clerk, day.path) == 2  # kept
    assert _without_tokens(_page(clerk, day.path)) == _without_tokens(before)
    with pytest.raises(StopIteration):
        next(steps)
    db.session.commit()
    after = _page(clerk, day.path)
    assert _without_tokens(after) != _without_tokens(before)  # the write shows
    assert _without_tokens(after) == _without_tokens(_rendered(app, clerk, day.path))
    assert _statements(clerk, day.path) == 2  # and is kept in turn


# Writes the page doesn't show leave it kept


def hold_placed(day: Day) -> Iterator[None]:
    yield
    body = {
        "office": day.office.code,
        "services": [day.service.code],
        "start": (MONDAY_9 + timedelta(hours=5)).isoformat(),
        "applicant": {
            "given_name": "Only",
            "family_name": "Held",
            "iin": next(day.iins),
            "passport_number": "N12345678",
            "email": "held@example.com",
            "phone": "010-1234-5678",
        },
        "language": "en",
        "details": {},
    }
    request = booking.parse_booking_request(db.session, body, day.clock(), POLICY)
    booking.place_hold(db.session, request, day.clock(), POLICY)


def booking_of_another_day(day: Day) -> Iterator[None]:
    yield
    book(day.office, THURSDAY_10, next(day.iins), day.clock())


def walk_in_at_another_office(day: Day) -> Iterator[None]:
    yield
    busan = db.session.scalars(sa.select(Office).where(Office.code == "busan")).one()
    queue.issue_walk_in(db.session, busan, day.service, day.actor, day.clock(), urgent=True)


def account_renamed(day: Day) -> Iterator[None]:
    # The page's account name is filled in for each request, from the account.
    yield
    day.actor.name = "Clerk Seoul, renamed"


@pytest.mark.parametrize(
    "write",
    [hold_placed, booking_of_another_day, walk_in_at_another_office, account_renamed],
    ids=lambda write: write.__name__,
)
def test_writes_the_page_does_not_show_keep_it(app, clerk, day, write: WritePath) -> None:
    steps = write(day)
    next(steps)
    db.session.commit()
    _page(clerk, day.path)
    version = page_version(db.session, day.office, MONDAY_9.date(), MONDAY_9.date())
    with pytest.raises(StopIteration):
        next(steps)
    db.session.commit()
    assert page_version(db.session, day.office, MONDAY_9.date(), MONDAY_9.date()) == version
    assert _statements(clerk, day.path) == 2
    assert _without_tokens(_page(clerk, day.path)) == _without_tokens(
        _rendered(app, clerk, day.path)
    )


def test_a_kept_page_follows_the_clock_into_the_next_day(app, clerk, day) -> None:
    tuesday = "/staff/seoul?day=2026-12-01"
    monday_view = _page(clerk, tuesday)
    assert ">Check in<" not in monday_view.split('id="appointments-title"')[1]
    day.clock.set(MONDAY_9 + timedelta(days=1))  # Tuesday 09:00: nothing was written
    tuesday_view = _page(clerk, tuesday)
    assert ">Check in<" in tuesday_view.split('id="appointments-title"')[1]
    assert _without_tokens(tuesday_view) == _without_tokens(_rendered(app, clerk, tuesday))


# Nobody's own page


def test_a_kept_page_is_each_sessions_own(app, accounts, day) -> None:
    """Another clerk's session gets the page kept for the first, with its own CSRF token
    (one that its forms can post with) and its own name; never the first's token or flash."""
    other = User(
        email="second.clerk@example.org",
        name="Second <Clerk>",
        role=Role.CLERK,
        offices=[day.office],
    )
    other.password_hash = hash_password(PASSWORD)
    db.session.add(other)
    db.session.commit()
    first, second = app.test_client(), app.test_client()
    assert sign_in(first, accounts["clerk_seoul"].email).status_code == 302
    assert sign_in(second, other.email).status_code == 302
    # The first clerk leaves the desk the fixture took: neither works at one.
    assert first.post("/staff/seoul/desk/leave").status_code == 302
    _page(first)  # what leaving said: rendered, not kept
    app.config["WTF_CSRF_ENABLED"] = True

    def tokens(html: str) -> set[str]:
        return set(re.findall(r'name="csrf_token"[^>]*value="([^"]+)"', html))

    first_page = _page(first)
    assert _statements(second) == 2  # the page kept for the first session
    second_page = _page(second)
    assert len(tokens(first_page)) == len(tokens(second_page)) == 1
    assert tokens(first_page) != tokens(second_page)
    assert "<span>Clerk Seoul</span>" in first_page
    assert "<span>Second &lt;Clerk&gt;</span>" in second_page and "Clerk Seoul" not in second_page
    # Each session's token is its own: its forms post (the first clerk takes desk 1, and
    # the second is told that the first works there).
    for client, page, target in ((first, first_page, "call-next"), (second, second_page, "desk")):
        (token,) = tokens(page)
        chosen = client.post("/staff/seoul/desk", data={"desk": day.desk_id, "csrf_token": token})
        assert chosen.status_code == 302
        assert chosen.headers["Location"].endswith(f"#{target}")
    # A message flashed to the first is shown in its next page (rendered for it alone), in
    # no other.
    assert "Desk 1 is taken by Clerk Seoul." in _page(second)
    _page(first)  # its page at desk 1, the focus asked for shown
    first_page = _page(first)
    assert _statements(second) == 2
    with first.session_transaction() as browser:
        browser["_flashes"] = [("info", "For the first clerk alone")]
    assert "For the first clerk alone" in _page(first)
    assert "For the first clerk alone" not in _page(second)
    # Its action flashes too, and changes the day: the page of each shows the new ticket.
    (token,) = tokens(first_page)
    walk_in = first.post(
        "/staff/seoul/walk-in", data={"service": day.service_id, "csrf_token": token}
    )
    assert walk_in.status_code == 302
    flashed = "Walk-in ticket issued: S-001."
    assert flashed in _page(first)
    assert flashed not in _page(second)
    assert "S-001" in _page(second)
    assert flashed not in _page(first)  # shown once


def test_the_language_switch_gives_the_other_language(clerk, day) -> None:
    english = _page(clerk)
    assert '<html lang="en">' in english
    clerk.post("/language", data={"language": "ru", "next": "/staff/seoul"})
    russian = _page(clerk)
    assert '<html lang="ru">' in russian and "Офис seoul" in russian
    assert _statements(clerk) == 2
    clerk.post("/language", data={"language": "en", "next": "/staff/seoul"})
    assert _statements(clerk) == 2  # English is still kept
    assert _without_tokens(_page(clerk)) == _without_tokens(english)


def test_each_role_and_desk_has_its_own_page(app, accounts, day, clerk) -> None:
    manager = app.test_client()
    assert sign_in(manager, accounts["manager_seoul"].email).status_code == 302
    day.called()
    db.session.commit()
    at_desk = _page(clerk)
    managing = _page(manager)
    assert 'id="served"' in at_desk and 'id="served"' not in managing  # no desk chosen
    assert ">Schedule</a>" in managing and ">Schedule</a>" not in at_desk
    assert _statements(manager) == _statements(clerk) == 2


def test_a_search_is_never_kept(clerk, day) -> None:
    path = f"/staff/seoul?q={day.visit(0).reference}"
    _page(clerk, path)
    assert _statements(clerk, path) == 7  # the versions and the desk read, nothing kept
    page = _page(clerk, path)
    assert day.visit(0).reference in page and day.visit(1).reference not in page


# The cache itself


def test_a_kept_page_survives_encoding() -> None:
    page = KeptPage("3.14", (b"<p>", "é".encode(), b"</p>"), ("csrf_token", "account_name"))
    assert KeptPage.decode(page.encode()) == page
    assert page.fill({"csrf_token": b"T", "account_name": b"N"}) == "<p>TéN</p>".encode()


def test_memory_keeps_the_most_recently_used_pages(app) -> None:
    cache = PageCache(ttl=60, entries=2)
    pages = {key: KeptPage("1", (key.encode(),), ()) for key in "abc"}
    cache.put("a", pages["a"])
    cache.put("b", pages["b"])
    assert cache.get("a", "1") == pages["a"]
    cache.put("c", pages["c"])  # "b" was used least recently
    assert cache.get("b", "1") is None
    assert cache.get("a", "1") == pages["a"] and cache.get("c", "1") == pages["c"]
    assert cache.get("a", "2") is None  # another version


def test_memory_entries_die_with_real_time(app, monkeypatch) -> None:
    cache = PageCache(ttl=60)
    cache.put("a", KeptPage("1", (b"a",), ()))
    real = page_cache.time.monotonic()
    monkeypatch.setattr(page_cache.time, "monotonic", lambda: real + 60.01)
    assert cache.get("a", "1") is None


def redis_cache() -> PageCache:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as error:
        missing_service(f"Redis is not reachable at {REDIS_URL}: {error}")
    cache = PageCache(60, REDIS_URL)
    prefix = f"test-{uuid.uuid4().hex}"
    cache._key = lambda name: f"{prefix}:{name}"  # type: ignore[method-assign]
    return cache


def test_workers_share_kept_pages_through_redis(app) -> None:
    one, two = redis_cache(), redis_cache()
    two._key = one._key  # type: ignore[method-assign]
    page = KeptPage("7.9", (b"<p>", b"</p>"), ("account_name",))
    one.put("k", page)
    assert two.get("k", "7.9") == page
    assert two.get("k", "7.10") is None
    two.put("k", KeptPage("7.10", (b"new",), ()))
    assert one.get("k", "7.9") is None


def test_redis_away_means_rendering(app) -> None:
    cache = PageCache(60, "redis://127.0.0.1:1/0")
    cache.put("k", KeptPage("1", (b"a",), ()))
    assert cache.get("k", "1") is None


def test_the_cache_can_be_turned_off(app, clerk, day) -> None:
    app.extensions["page_cache"].ttl = 0
    _page(clerk)
    assert _statements(clerk) == 7  # the versions and the desk read, nothing kept


def test_a_cache_lifetime_is_bounded(monkeypatch, tmp_path) -> None:
    from consular.config import ConfigError, load_config

    monkeypatch.setenv("STAFF_PAGE_CACHE_SECONDS", "100000")
    with pytest.raises(ConfigError):
        load_config(str(tmp_path))
    monkeypatch.setenv("STAFF_PAGE_CACHE_SECONDS", "0")
    assert load_config(str(tmp_path))["STAFF_PAGE_CACHE_SECONDS"] == 0
    monkeypatch.setenv("AVAILABILITY_CACHE_URL", "redis://cache:6379/1")
    assert load_config(str(tmp_path))["STAFF_PAGE_CACHE_URL"] == "redis://cache:6379/1"
    monkeypatch.setenv("STAFF_PAGE_CACHE_URL", "redis://pages:6379/2")
    assert load_config(str(tmp_path))["STAFF_PAGE_CACHE_URL"] == "redis://pages:6379/2"


# The versions on PostgreSQL: raised at the commit, after the transaction's other locks


@pytest.mark.postgresql_only
def test_a_check_in_and_a_walk_in_at_once_never_deadlock(app, day) -> None:
    """A check-in changes the visit, then takes the day's ticket number; a walk-in takes the
    day's walk-in allowance (the same counter row), then adds its ticket. Had the versions
    been raised at once, each would wait for a row the other holds."""
    queue.issue_walk_in(db.session, day.office, day.service, day.actor, day.clock())
    db.session.commit()  # the day's counter row exists
    visit_id, office_id = day.visit_ids[0], day.office_id
    monday = MONDAY_9.date()
    before = page_version(db.session, day.office, monday, monday)
    db.session.commit()
    engine = db.engine
    with engine.connect() as checking_in, engine.connect() as walking_in:
        checking_in.execute(
            sa.text("UPDATE appointment SET status = 'checked_in' WHERE id = :id"),
            {"id": visit_id},
        )
        walking_in.execute(
            sa.text(
                "UPDATE ticket_counter SET walk_in_slots = walk_in_slots + 1,"
                " last_number = last_number + 1 WHERE office_id = :office"
            ),
            {"office": office_id},
        )
        walking_in.execute(
            sa.text(
                "INSERT INTO ticket (office_id, service_day, number, label, is_walk_in,"
                " is_priority, status, queue_at, arrived_at, call_count, note)"
                " SELECT office_id, service_day, last_number, 'S-999', true, false, 'waiting',"
                " now(), now(), 0, '' FROM ticket_counter WHERE office_id = :office"
            ),
            {"office": office_id},
        )
        failures: list[BaseException] = []

        def take_number() -> None:
            try:
                checking_in.execute(
                    sa.text(
                        "UPDATE ticket_counter SET last_number = last_number + 1"
                        " WHERE office_id = :office"
                    ),
                    {"office": office_id},
                )
                checking_in.commit()
            except BaseException as error:  # a deadlock, reported below
                failures.append(error)
                checking_in.rollback()

        waiting = threading.Thread(target=take_number)
        waiting.start()  # waits for the walk-in's lock on the counter row
        waiting.join(timeout=0.5)
        walking_in.commit()  # raises the day's version, then lets the check-in go on
        waiting.join(timeout=10)
        assert not waiting.is_alive() and failures == []
    # The writes raised the day's version (then they are undone, so that the invariants
    # check what the services wrote).
    after = page_version(db.session, day.office, monday, monday)
    assert after.split(".")[1] > before.split(".")[1]
    db.session.execute(sa.text("DELETE FROM ticket WHERE label = 'S-999'"))
    db.session.execute(
        sa.text("UPDATE appointment SET status = 'confirmed' WHERE id = :id"), {"id": visit_id}
    )
    db.session.execute(
        sa.text(
            "UPDATE ticket_counter SET walk_in_slots = walk_in_slots - 1,"
            " last_number = last_number - 2 WHERE office_id = :office"
        ),
        {"office": office_id},
    )
    db.session.commit()
