"""A short-lived cache of what availability shows, so that a rush of citizens looking at the
same month costs the database one query a second, not one per look.

Two things are kept, each for at most AVAILABILITY_CACHE_SECONDS (1 s by default; 0 turns the
cache off): the free seats of an office's slots over the whole booking window, from which any
page or answer computes its start times, and the finished JSON answers of the API.

It never decides anything: holds, confirmations and reschedules read the database itself
and take seats by conditional updates, so a stale look can at worst offer a time that the
hold then refuses ("someone else has just taken this time"). A seat taken elsewhere shows as
free for at most the lifetime of an entry; a commit that changes seats or slots in this
process drops every entry at once, so a citizen never sees their own seat as free.

Entries are kept in the worker's memory by default, or in Redis (AVAILABILITY_CACHE_URL) so
that all workers and hosts share them: then one query a second serves every worker, and a
write in any of them drops the entries for all. An entry also records the time it was
computed for and serves only requests of the next ttl seconds of that clock, so a test clock
moved forward (or back) never reads an old entry.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from consular.database import SessionLike
from consular.models import (
    Closure,
    LotteryRelease,
    Office,
    OpeningPeriod,
    ServiceType,
    Slot,
    appointment_slot,
    lottery_release_service,
)
from consular.services.availability import FreeSeats, SeatReader, free_seats_between
from consular.services.schedule import local_day_bounds

T = TypeVar("T")

# The free seats of an office are kept from the start of its day over this many days, which
# covers every range the API and the pages may ask (the API allows at most 92 days).
WINDOW_DAYS = 95
MEMORY_ENTRIES = 2048
# What availability is computed from: seats and slots, the offices' and services' rules, and
# the lottery releases that keep days off first-come sale.
_SHOWN_FROM: tuple[type, ...] = (Slot, Office, ServiceType, OpeningPeriod, Closure, LotteryRelease)
_SEAT_TABLES = frozenset(
    {
        appointment_slot.name,
        lottery_release_service.name,
        *(model.__tablename__ for model in _SHOWN_FROM),  # type: ignore[attr-defined]
    }
)
_CHANGED = "availability_cache.changed"


class CacheStorage:
    """Where a cache keeps its entries: this worker's memory (under a lock), or Redis shared
    by every worker and host (under keys of the cache's own namespace). Redis being away
    never fails a request: the call answers False and the cache is not used."""

    namespace = "cache"

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._redis: Any = None
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            self._redis = redis.Redis.from_url(url, socket_timeout=0.5)

    def _key(self, name: str) -> str:
        return f"consular:{self.namespace}:{name}"

    def _redis_call(self, call: Callable[[], T]) -> T | None | Literal[False]:
        """The call's result, or False when Redis is away (then the cache is not used and
        every look reads the database, as with the cache off)."""
        import redis

        try:
            return call()
        except redis.RedisError:
            current_app.logger.warning("%s cache: Redis unavailable", self.namespace, exc_info=True)
            return False


class AvailabilityCache(CacheStorage):
    """Entries that live at most `ttl` seconds, dropped all at once by `clear()`."""

    namespace = "availability"

    def __init__(self, ttl: float, url: str = "memory://") -> None:
        super().__init__(url)
        self.ttl = ttl
        self._generation = 0
        self._memory: dict[str, tuple[int, float, datetime, Any]] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def _fresh_for(self, computed_for: datetime, now: datetime) -> bool:
        return timedelta(0) <= now - computed_for <= timedelta(seconds=self.ttl)

    def get(self, key: str, now: datetime, decode: Callable[[bytes], T]) -> T | None:
        """The value kept under `key` if it is fresh for `now`, else None."""
        if not self.enabled:
            return None
        if self._redis is not None:
            return self._redis_get(key, now, decode)
        with self._lock:
            entry = self._memory.get(key)
            if entry is None:
                return None
            generation, deadline, computed_for, value = entry
            if (
                generation != self._generation
                or time.monotonic() > deadline
                or not self._fresh_for(computed_for, now)
            ):
                del self._memory[key]
                return None
            return value

    def generation(self) -> int | None:
        """Taken before computing a value and given to `put`: a `clear()` in between (a
        write committed meanwhile, by this worker or, through Redis, by any) then keeps the
        value from being served. None when the cache can't be used now."""
        if not self.enabled:
            return None
        if self._redis is not None:
            found = self._redis_call(lambda: self._redis.get(self._key("generation")))
            return None if found is False else int(found or 0)
        return self._generation

    def put(
        self,
        key: str,
        now: datetime,
        value: T,
        encode: Callable[[T], bytes],
        generation: int | None,
    ) -> None:
        """Keep `value`, computed for `now` from what the database held at `generation`, for
        at most ttl seconds."""
        if generation is None:
            return
        if self._redis is not None:
            self._redis_put(key, now, encode(value), generation)
            return
        with self._lock:
            if generation != self._generation:
                return  # a write came in while it was computed
            if len(self._memory) >= MEMORY_ENTRIES:
                self._memory.clear()
            self._memory[key] = (generation, time.monotonic() + self.ttl, now, value)

    def clear(self) -> None:
        """Drop every entry (here, and for every worker when shared through Redis)."""
        if self._redis is not None:
            self._redis_call(lambda: self._redis.incr(self._key("generation")))
        with self._lock:
            self._generation += 1
            self._memory.clear()

    # Redis keeps `generation:computed-for:payload` under the key, and a generation counter
    # that `clear()` raises; both are read in one round trip.

    def _redis_get(self, key: str, now: datetime, decode: Callable[[bytes], T]) -> T | None:
        found = self._redis_call(
            lambda: self._redis.mget(self._key("generation"), self._key(f"entry:{key}"))
        )
        if not found or found[1] is None:
            return None
        generation, entry = found
        stored_generation, computed_for, payload = entry.split(b":", 2)
        if int(stored_generation) != int(generation or 0):
            return None
        if not self._fresh_for(datetime.fromtimestamp(float(computed_for), UTC), now):
            return None
        return decode(payload)

    def _redis_put(self, key: str, now: datetime, payload: bytes, generation: int) -> None:
        def store() -> None:
            entry = f"{generation}:{now.timestamp()!r}:".encode() + payload
            self._redis.set(self._key(f"entry:{key}"), entry, px=max(1, int(self.ttl * 1000)))

        self._redis_call(store)


def current() -> AvailabilityCache:
    return current_app.extensions["availability_cache"]


def _encode_seats(seats: list[FreeSeats]) -> bytes:
    return json.dumps(
        [[s.slot_id, s.starts_at.timestamp(), s.ends_at.timestamp(), s.free] for s in seats],
        separators=(",", ":"),
    ).encode()


def _decode_seats(payload: bytes) -> list[FreeSeats]:
    return [
        FreeSeats(
            slot_id, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC), free
        )
        for slot_id, start, end, free in json.loads(payload)
    ]


def cached_free_seats(
    session: SessionLike, office: Office, start: datetime, end: datetime, now: datetime
) -> list[FreeSeats]:
    """`free_seats_between` through the cache: the office's whole window is read (and kept)
    at once, and the range asked for is cut out of it."""
    cache = current()
    if not cache.enabled:
        return free_seats_between(session, office, start, end, now)
    window_start = local_day_bounds(now.astimezone(office.zone).date(), office.zone)[0]
    window_end = window_start + timedelta(days=WINDOW_DAYS)
    if start < window_start or end > window_end:
        return free_seats_between(session, office, start, end, now)
    key = f"seats:{office.id}:{window_start.timestamp():.0f}"
    seats = cache.get(key, now, _decode_seats)
    if seats is None:
        generation = cache.generation()
        seats = free_seats_between(session, office, window_start, window_end, now)
        cache.put(key, now, seats, _encode_seats, generation)
    return seats[
        bisect.bisect_left(seats, start, key=_start) : bisect.bisect_left(seats, end, key=_start)
    ]


def _start(seats: FreeSeats) -> datetime:
    return seats.starts_at


def seat_reader() -> SeatReader:
    """How pages that only show availability read seats."""
    return cached_free_seats


def cached_answer(key: str, now: datetime, compute: Callable[[], bytes]) -> bytes:
    """A finished answer kept under `key`, or computed and kept."""
    cache = current()
    found = cache.get(f"answer:{key}", now, bytes)
    if found is None:
        generation = cache.generation()
        found = compute()
        cache.put(f"answer:{key}", now, found, bytes, generation)
    return found


def cached_text(key: str, now: datetime) -> str | None:
    """A piece of page kept under `key`, if fresh."""
    return current().get(f"text:{key}", now, bytes.decode)


def generation() -> int | None:
    """See `AvailabilityCache.generation`: take it before computing what `keep_text` keeps."""
    return current().generation()


def keep_text(key: str, now: datetime, text: str, generation: int | None) -> None:
    current().put(f"text:{key}", now, text, str.encode, generation)


# A commit that wrote slots or seats, or an office's or service's settings, drops the cache.
# Writes are seen in the statements the session runs (the seat owners write with
# UPDATE/INSERT/DELETE) and in the objects it flushes.


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _SEAT_TABLES:
            state.session.info[_CHANGED] = True


def _note_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    if any(isinstance(o, _SHOWN_FROM) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


def _drop_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False) and has_app_context():
        cache = current_app.extensions.get("availability_cache")
        if cache is not None:
            cache.clear()


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


_listening = False


def init_app(app: Flask) -> None:
    global _listening
    app.extensions["availability_cache"] = AvailabilityCache(
        float(app.config["AVAILABILITY_CACHE_SECONDS"]), app.config["AVAILABILITY_CACHE_URL"]
    )
    if not _listening:
        sa.event.listen(Session, "do_orm_execute", _note_statement)
        sa.event.listen(Session, "before_flush", _note_flush)
        sa.event.listen(Session, "after_commit", _drop_after_commit)
        sa.event.listen(Session, "after_rollback", _forget_after_rollback)
        _listening = True
