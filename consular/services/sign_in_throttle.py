"""The sign-in's defences against guessing, none of which locks the real user out.

- **Per (e-mail, address) pair**, wrong passwords beyond a few make that pair wait a delay
  that doubles with each further one (up to a cap); a success clears the pair. Another
  address is not held back by it, so an attacker can't lock the real user out.
- **Per e-mail, from anywhere**, enough recent wrong passwords make every sign-in to it ask
  for a proof of work (the ALTCHA challenge of `consular.services.proof_of_work`): a person's
  browser solves it in a second, a bot pays for each try.
- **Per process**, at most a few password verifications (argon2) run at once; a sign-in that
  can't get a turn within a short wait is answered "try again in a moment", so failed sign-ins
  can't occupy every worker thread and starve the other pages.

The counts are rows of `SignInFailure`, shared by every worker and host, and timed by the
app's clock. The e-mail is what was typed, whether or not an account has it, so the answers
say nothing about which accounts exist.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_babel import LazyString, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from consular.clients import Client
from consular.database import SessionLike
from consular.models import SignInFailure, User
from consular.services import accounts, proof_of_work
from consular.services.errors import DomainError
from consular.services.proof_of_work import PowSettings, SignInProof

# Old rows deleted by one failed sign-in: enough to keep up, bounded so none waits long.
PRUNE_BATCH = 100
MAX_EMAIL_LENGTH = 254
MAX_ADDRESS_LENGTH = 64


@dataclass(frozen=True)
class ThrottleSettings:
    """The sign-in throttle's settings, from the app's configuration (README)."""

    free_failures: int
    first_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta
    proof_after_failures: int
    proof_window: timedelta
    proof_max_number: int
    hash_concurrency: int
    hash_wait_seconds: float
    pow: PowSettings


def settings_from_config(config: Any) -> ThrottleSettings:
    """The settings of an app."""
    return ThrottleSettings(
        free_failures=config["SIGN_IN_FREE_FAILURES"],
        first_delay=timedelta(seconds=config["SIGN_IN_FIRST_DELAY_SECONDS"]),
        max_delay=timedelta(seconds=config["SIGN_IN_MAX_DELAY_SECONDS"]),
        forget_after=timedelta(hours=config["SIGN_IN_FORGET_HOURS"]),
        proof_after_failures=config["SIGN_IN_POW_AFTER_FAILURES"],
        proof_window=timedelta(minutes=config["SIGN_IN_POW_WINDOW_MINUTES"]),
        proof_max_number=config["SIGN_IN_POW_MAX_NUMBER"],
        hash_concurrency=config["SIGN_IN_HASH_CONCURRENCY"],
        hash_wait_seconds=config["SIGN_IN_HASH_WAIT_SECONDS"],
        pow=proof_of_work.settings_from_config(config),
    )


class SignInRefused(DomainError):
    """The sign-in was not tried: `retry_after` (seconds) goes in the answer's header, and
    `wants_proof` says whether the form must show the proof of work."""

    http_status = 429
    wants_proof = False

    def __init__(
        self, message: str | LazyString, field: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class PairThrottled(SignInRefused):
    """This address gave too many wrong passwords for this e-mail: it waits a while."""

    code = "sign_in_throttled"


class HashingBusy(SignInRefused):
    """Every password verification of this process is taken: try again in a moment."""

    code = "sign_in_busy"
    http_status = 503

    def __init__(self) -> None:
        super().__init__(
            _l("Many people are signing in right now. Try again in a moment."),
            field="password",
            retry_after=1,
        )


class ProofNeeded(SignInRefused):
    """The account had many wrong passwords lately: the sign-in needs a proof of work."""

    code = "sign_in_proof_needed"
    http_status = 422
    wants_proof = True

    def __init__(self, message: str | LazyString) -> None:
        super().__init__(message, field=proof_of_work.FIELD)


_PROOF_MESSAGES = {
    SignInProof.MISSING: _l(
        "This account had many wrong passwords lately, so your browser must first finish a "
        "short check. It needs JavaScript. Wait until the check is done, enter your password "
        "again and press the button."
    ),
    SignInProof.INVALID: _l(
        "The check could not be confirmed. Wait until it has been done again, enter your "
        "password again and press the button."
    ),
    SignInProof.EXPIRED: _l(
        "The check has expired. Wait until it has been done again, enter your password again "
        "and press the button."
    ),
    SignInProof.REUSED: _l(
        "This check has already been used. Wait until it has been done again, enter your "
        "password again and press the button."
    ),
}


def _email_key(email: str) -> str:
    return (email or "").strip().lower()[:MAX_EMAIL_LENGTH]


def _address_key(client: Client) -> str:
    return (client.address or "unknown")[:MAX_ADDRESS_LENGTH]


def delay_after(failures: int, settings: ThrottleSettings) -> timedelta:
    """How long a pair waits after its `failures`-th wrong password in a row: nothing for
    the first few, then the first delay, doubling each time, up to the cap."""
    beyond = failures - settings.free_failures
    if beyond < 0:
        return timedelta(0)
    if beyond >= 64:  # 2**64 seconds is past any cap; also keeps the float in range
        return settings.max_delay
    return min(settings.first_delay * 2**beyond, settings.max_delay)


def _wait_message(seconds: int) -> str:
    if seconds < 120:
        return ngettext(
            "Too many wrong passwords from here for this account. Try again in %(num)d second.",
            "Too many wrong passwords from here for this account. Try again in %(num)d seconds.",
            seconds,
        )
    minutes = math.ceil(seconds / 60)
    return ngettext(
        "Too many wrong passwords from here for this account. Try again in %(num)d minute.",
        "Too many wrong passwords from here for this account. Try again in %(num)d minutes.",
        minutes,
    )


def _check_pair(
    session: SessionLike, email: str, address: str, now: datetime, settings: ThrottleSettings
) -> None:
    """Refuse the try when the pair is still waiting."""
    blocked_until = session.scalar(
        sa.select(SignInFailure.blocked_until).where(
            SignInFailure.email == email,
            SignInFailure.address == address,
            SignInFailure.last_failed_at > now - settings.forget_after,
        )
    )
    if blocked_until is not None and blocked_until > now:
        seconds = max(1, math.ceil((blocked_until - now).total_seconds()))
        raise PairThrottled(_wait_message(seconds), field="password", retry_after=seconds)


def needs_proof(
    session: SessionLike, email: str, now: datetime, settings: ThrottleSettings
) -> bool:
    """Whether a sign-in to this e-mail must come with a proof of work: its wrong passwords
    from every address in the window reached the threshold (a bounded index range)."""
    if settings.proof_after_failures <= 0:
        return False
    recent = (
        sa.select(SignInFailure.failures)
        .where(
            SignInFailure.email == _email_key(email),
            SignInFailure.last_failed_at > now - settings.proof_window,
        )
        .limit(settings.proof_after_failures)
        .subquery()
    )
    total = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(recent.c.failures), 0)))
    return int(total or 0) >= settings.proof_after_failures


def _record_failure(
    session: SessionLike, email: str, address: str, now: datetime, settings: ThrottleSettings
) -> None:
    """Count a wrong password of the pair and set its wait; forget a batch of old rows."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stale = SignInFailure.last_failed_at <= now - settings.forget_after
    failures = session.execute(
        insert(SignInFailure)
        .values(email=email, address=address, failures=1, last_failed_at=now, blocked_until=now)
        .on_conflict_do_update(
            index_elements=[SignInFailure.email, SignInFailure.address],
            set_={
                "failures": sa.case((stale, 1), else_=SignInFailure.failures + 1),
                "last_failed_at": now,
                "blocked_until": now,
            },
        )
        .returning(SignInFailure.failures)
    ).scalar_one()
    wait = delay_after(failures, settings)
    if wait:
        session.execute(
            sa.update(SignInFailure)
            .where(SignInFailure.email == email, SignInFailure.address == address)
            .values(blocked_until=now + wait)
            .execution_options(synchronize_session=False)
        )
    # Rows another request is deleting are skipped (PostgreSQL), so no request waits for one.
    forgotten = (
        sa.select(SignInFailure.email, SignInFailure.address)
        .where(SignInFailure.last_failed_at <= now - settings.forget_after)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        sa.delete(SignInFailure)
        .where(sa.tuple_(SignInFailure.email, SignInFailure.address).in_(forgotten))
        .execution_options(synchronize_session=False)
    )
    session.flush()


def _clear_pair(session: SessionLike, email: str, address: str) -> None:
    session.execute(
        sa.delete(SignInFailure)
        .where(SignInFailure.email == email, SignInFailure.address == address)
        .execution_options(synchronize_session=False)
    )
    session.flush()


SLOTS_EXTENSION = "sign_in_hashing"


def hashing_slots(app: Flask) -> threading.BoundedSemaphore:
    """The semaphore that bounds this process's password verifications for the app (made at
    its first use; `setdefault` keeps the first one if two threads race)."""
    slots = app.extensions.get(SLOTS_EXTENSION)
    if slots is None:
        fresh = threading.BoundedSemaphore(app.config["SIGN_IN_HASH_CONCURRENCY"])
        slots = app.extensions.setdefault(SLOTS_EXTENSION, fresh)
    assert isinstance(slots, threading.BoundedSemaphore)
    return slots


def authenticate(
    session: SessionLike,
    email: str,
    password: str,
    proof: object,
    client: Client,
    now: datetime,
    settings: ThrottleSettings,
    slots: threading.BoundedSemaphore,
) -> User | None:
    """The active account with this e-mail and password, or None, as `accounts.authenticate`
    decides, once the throttle lets the try through (flushes).

    Raises PairThrottled while this address waits for this e-mail, ProofNeeded when the
    account needs a proof of work and `proof` is not a good one (the proof is spent), and
    HashingBusy when no verification turn came within the short wait. A wrong password is
    counted for the pair; a right one clears the pair.
    """
    email_key, address = _email_key(email), _address_key(client)
    _check_pair(session, email_key, address, now, settings)
    if needs_proof(session, email_key, now, settings):
        refused = proof_of_work.spend_sign_in_proof(session, proof, now, settings.pow)
        if refused is not None:
            raise ProofNeeded(_PROOF_MESSAGES[refused])
    if not slots.acquire(timeout=settings.hash_wait_seconds):
        raise HashingBusy()
    try:
        user = accounts.authenticate(session, email, password, now)
    finally:
        slots.release()
    if user is None:
        _record_failure(session, email_key, address, now, settings)
    else:
        _clear_pair(session, email_key, address)
    return user


def issue_challenge(now: datetime, settings: ThrottleSettings) -> dict[str, Any]:
    """A proof-of-work challenge for the sign-in form."""
    return proof_of_work.issue_sign_in_challenge(now, settings.proof_max_number, settings.pow)
