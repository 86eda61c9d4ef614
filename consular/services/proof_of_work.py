"""Proof of work (ALTCHA) in front of every hold: challenges, their difficulty, and the check.

A challenge is an ALTCHA PoW v2 challenge in deterministic mode: the server draws a counter
below the *maximum number*, derives its PBKDF2-SHA-256 key and publishes a prefix of it; the
browser counts from 0 until a counter gives that prefix. Finding it takes the counter's
number of key derivations (on average three quarters of the maximum), and checking it takes
one HMAC, thanks to the signature of the derived key. The challenge is signed and names its
office, its difficulty and its expiry (by the app's clock, checked here: the browser's clock
may be wrong).

The difficulty rises with the hold requests of the last minutes at the office (a rush costs
every request more) and from the client's network (a network that sends many pays doubly
for each). Every hold request spends its proof once (`SpentProof`, shared by every worker
and host), whatever becomes of the hold, so each attempt costs its own work; a proof solved
while it was cheap is refused once the difficulty has more than doubled.

Views call `require_proof` once before they parse the booking, in a transaction of its own.

The sign-in asks for the same kind of proof once an account has had many wrong passwords
(`consular.services.sign_in_throttle`): a challenge for no office, of a fixed difficulty,
spent once (`SpentSignInProof`). A hold refuses it and a sign-in refuses a hold's.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import altcha
import sqlalchemy as sa
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from consular.clients import Client
from consular.database import SessionLike
from consular.models import Office, SpentProof, SpentSignInProof
from consular.services.errors import DomainError

ALGORITHM = "PBKDF2/SHA-256"
FIELD = "proof_of_work"
# A payload the widget sends is about 700 characters; anything far longer is not one.
MAX_PAYLOAD_LENGTH = 4096
# Expired rows deleted by one hold request: enough to keep up, bounded so none waits long.
PRUNE_BATCH = 100
_FINGERPRINT = re.compile(r"[0-9a-f]{16,64}")


class ProofOfWorkRefused(DomainError):
    """The request's proof of work is missing or cannot be accepted."""

    http_status = 422

    def __init__(self, message: str | LazyString) -> None:
        super().__init__(message, field=FIELD)


class ProofOfWorkRequired(ProofOfWorkRefused):
    code = "proof_of_work_required"

    def __init__(self) -> None:
        super().__init__(
            _l(
                "Before the time can be held, your browser must finish a short check that a "
                "person is booking. It needs JavaScript. Wait until the check is done, then "
                "press the button again."
            )
        )


class ProofOfWorkInvalid(ProofOfWorkRefused):
    code = "proof_of_work_invalid"


INVALID = _l(
    "The check that a person is booking could not be confirmed. Wait until it has been done "
    "again, then press the button again."
)
EXPIRED = _l(
    "The check that a person is booking has expired. Wait until it has been done again, then "
    "press the button again."
)
REUSED = _l(
    "This check has already been used. Wait until it has been done again, then press the "
    "button again."
)
TOO_EASY = _l(
    "Many people are booking right now, so the check needs more work. Wait until it has been "
    "done again, then press the button again."
)


@dataclass(frozen=True)
class PowSettings:
    """The proof-of-work settings, from the app's configuration (README, "Fair access")."""

    enabled: bool
    hmac_key: str
    cost: int
    base_max_number: int
    expiry: timedelta
    window: timedelta
    office_normal_holds: int
    office_max_factor: int
    network_free_holds: int
    network_max_factor: int

    @property
    def key_signature_secret(self) -> str:
        """The second secret, which signs each challenge's derived key (fast verification)."""
        return hmac.new(self.hmac_key.encode(), b"derived-key", hashlib.sha256).hexdigest()


def settings_from_config(config: Any) -> PowSettings:
    """The settings of an app; the HMAC key is derived from SECRET_KEY when none is set."""
    key = (
        config.get("POW_HMAC_KEY")
        or hmac.new(
            str(config["SECRET_KEY"]).encode(), b"consular proof of work", hashlib.sha256
        ).hexdigest()
    )
    return PowSettings(
        enabled=bool(config["POW_ENABLED"]),
        hmac_key=key,
        cost=config["POW_COST"],
        base_max_number=config["POW_BASE_MAX_NUMBER"],
        expiry=timedelta(seconds=config["POW_EXPIRY_SECONDS"]),
        window=timedelta(minutes=config["POW_WINDOW_MINUTES"]),
        office_normal_holds=config["POW_OFFICE_NORMAL_HOLDS"],
        office_max_factor=config["POW_OFFICE_MAX_FACTOR"],
        network_free_holds=config["POW_NETWORK_FREE_HOLDS"],
        network_max_factor=config["POW_NETWORK_MAX_FACTOR"],
    )


# Difficulty


@dataclass(frozen=True)
class Difficulty:
    """How much work the next challenge asks, and the counts that set it."""

    max_number: int
    office_holds: int
    network_holds: int


def _recent_count(where: sa.ColumnElement[bool], cap: int) -> sa.ScalarSelect[int]:
    """How many spent proofs match, counting no further than `cap` (an index range, bounded)."""
    matching = sa.select(sa.literal(1)).where(where).limit(cap).subquery()
    return sa.select(sa.func.count()).select_from(matching).scalar_subquery()


def difficulty(
    session: SessionLike, office_id: int, network: str, now: datetime, settings: PowSettings
) -> Difficulty:
    """The maximum number for a challenge of this office asked from this network now.

    The base at normal load; times the office's hold requests in the window over the normal
    number (up to `office_max_factor`); times 2 for each request from the network beyond the
    free ones (up to `network_max_factor`). Both counts are bounded index ranges.
    """
    since = now - settings.window
    office_cap = settings.office_normal_holds * settings.office_max_factor
    network_cap = settings.network_free_holds + math.ceil(math.log2(settings.network_max_factor))
    office_holds, network_holds = session.execute(
        sa.select(
            _recent_count(
                (SpentProof.office_id == office_id) & (SpentProof.spent_at > since), office_cap
            ),
            _recent_count(
                (SpentProof.network == network) & (SpentProof.spent_at > since), network_cap
            ),
        )
    ).one()
    office_factor = min(
        max(1.0, office_holds / settings.office_normal_holds), settings.office_max_factor
    )
    beyond_free = max(0, network_holds - settings.network_free_holds + 1)
    network_factor = min(2**beyond_free, settings.network_max_factor)
    return Difficulty(
        max_number=max(1, round(settings.base_max_number * office_factor * network_factor)),
        office_holds=office_holds,
        network_holds=network_holds,
    )


# Challenges


def issue_challenge(
    session: SessionLike, office: Office, client: Client, now: datetime, settings: PowSettings
) -> dict[str, Any]:
    """A signed challenge for a hold at this office, as the ALTCHA widget reads it.

    The counter is drawn from the upper half below the maximum number, so that no challenge
    is nearly free: the work is between one half and all of the maximum.
    """
    level = difficulty(session, office.id, client.network, now, settings)
    counter = level.max_number // 2 + secrets.randbelow(level.max_number - level.max_number // 2)
    challenge = altcha.create_challenge(
        algorithm=ALGORITHM,
        cost=settings.cost,
        counter=counter,
        data={
            "office": office.code,
            "office_id": office.id,
            "max_number": level.max_number,
            "issued": int(now.timestamp()),
            "expires": int((now + settings.expiry).timestamp()),
        },
        hmac_secret=settings.hmac_key,
        hmac_key_secret=settings.key_signature_secret,
    )
    return challenge.to_dict()


# The check in front of a hold


@dataclass(frozen=True)
class Proof:
    """What the hold learnt from its proof of work: the difficulty it paid (None when proof
    of work is off) and the coarse device fingerprint the page sent beside it, if any."""

    max_number: int | None
    fingerprint: str | None


def clean_fingerprint(value: object) -> str | None:
    """The device fingerprint the page's script sent (a hex hash), or None for anything else."""
    if isinstance(value, str) and _FINGERPRINT.fullmatch(value):
        return value
    return None


def _verified_data(payload: str, settings: PowSettings) -> tuple[str, dict[str, Any]]:
    """The signature and signed data of a correctly solved challenge of ours, or a refusal."""
    try:
        result = altcha.verify_solution(
            payload, settings.hmac_key, hmac_key_secret=settings.key_signature_secret
        )
        parsed = altcha.Payload.from_base64(payload) if result.verified else None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        parsed = None
    if parsed is None:
        raise ProofOfWorkInvalid(INVALID)
    parameters = parsed.challenge.parameters
    data = parameters.data
    # Signed, so these are ours; a challenge of another algorithm or cost would be a key leak.
    if (
        parameters.algorithm != ALGORITHM
        or not parameters.key_signature
        or not isinstance(data, dict)
        or not isinstance(parsed.challenge.signature, str)
    ):
        raise ProofOfWorkInvalid(INVALID)
    return parsed.challenge.signature, data


def require_proof(
    session: SessionLike,
    office_code: object,
    payload: object,
    fingerprint: object,
    client: Client,
    now: datetime,
    settings: PowSettings,
) -> Proof:
    """Check the proof of work of a hold request at this office and spend it (flushes).

    Raises ProofOfWorkRequired when there is none, ProofOfWorkInvalid when it is wrong, for
    another office, expired, already spent, or solved at less than half of today's
    difficulty. The caller commits it at once, before the hold, so that a refused hold still
    spends its proof.
    """
    device = clean_fingerprint(fingerprint)
    if not settings.enabled:
        return Proof(max_number=None, fingerprint=device)
    if not isinstance(payload, str) or not payload.strip():
        raise ProofOfWorkRequired()
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise ProofOfWorkInvalid(INVALID)
    signature, data = _verified_data(payload.strip(), settings)
    office_id, max_number, expires = (data.get(k) for k in ("office_id", "max_number", "expires"))
    if data.get("office") != office_code or not all(
        type(value) is int for value in (office_id, max_number, expires)
    ):
        raise ProofOfWorkInvalid(INVALID)
    assert isinstance(office_id, int) and isinstance(max_number, int) and isinstance(expires, int)
    if expires <= now.timestamp():
        raise ProofOfWorkInvalid(EXPIRED)
    if max_number * 2 < difficulty(session, office_id, client.network, now, settings).max_number:
        raise ProofOfWorkInvalid(TOO_EASY)
    _spend(session, signature, office_id, client.network, expires, now, settings)
    return Proof(max_number=max_number, fingerprint=device)


def _spend(
    session: SessionLike,
    signature: str,
    office_id: int,
    network: str,
    expires: int,
    now: datetime,
    settings: PowSettings,
) -> None:
    """Record the proof as spent (refused if it already was), and forget a batch of old ones."""
    expires_at = datetime.fromtimestamp(expires, now.tzinfo)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    spent = session.execute(
        insert(SpentProof)
        .values(
            signature=signature,
            office_id=office_id,
            network=network,
            spent_at=now,
            forget_at=max(expires_at, now + settings.window),
        )
        .on_conflict_do_nothing()
        .returning(SpentProof.signature)
    ).first()
    if spent is None:
        raise ProofOfWorkInvalid(REUSED)
    # Rows another request is deleting are skipped (PostgreSQL), so no request waits for one.
    forgotten = (
        sa.select(SpentProof.signature)
        .where(SpentProof.forget_at <= now)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(sa.delete(SpentProof).where(SpentProof.signature.in_(forgotten)))
    session.flush()


# The proof in front of a sign-in

SIGN_IN = "sign-in"


class SignInProof(StrEnum):
    """Why a sign-in's proof of work was not accepted."""

    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"
    REUSED = "reused"


def issue_sign_in_challenge(
    now: datetime, max_number: int, settings: PowSettings
) -> dict[str, Any]:
    """A signed challenge for a sign-in (of no office), as the ALTCHA widget reads it; the
    work is between one half and all of `max_number`, as for a hold."""
    max_number = max(1, max_number)
    counter = max_number // 2 + secrets.randbelow(max_number - max_number // 2)
    challenge = altcha.create_challenge(
        algorithm=ALGORITHM,
        cost=settings.cost,
        counter=counter,
        data={
            "purpose": SIGN_IN,
            "max_number": max_number,
            "issued": int(now.timestamp()),
            "expires": int((now + settings.expiry).timestamp()),
        },
        hmac_secret=settings.hmac_key,
        hmac_key_secret=settings.key_signature_secret,
    )
    return challenge.to_dict()


def spend_sign_in_proof(
    session: SessionLike, payload: object, now: datetime, settings: PowSettings
) -> SignInProof | None:
    """Check a sign-in's proof of work and spend it (flushes): None when it is accepted,
    otherwise why not. A hold's challenge is invalid here."""
    if not isinstance(payload, str) or not payload.strip():
        return SignInProof.MISSING
    if len(payload) > MAX_PAYLOAD_LENGTH:
        return SignInProof.INVALID
    try:
        signature, data = _verified_data(payload.strip(), settings)
    except ProofOfWorkInvalid:
        return SignInProof.INVALID
    expires = data.get("expires")
    if data.get("purpose") != SIGN_IN or "office" in data or type(expires) is not int:
        return SignInProof.INVALID
    if expires <= now.timestamp():
        return SignInProof.EXPIRED
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    spent = session.execute(
        insert(SpentSignInProof)
        .values(signature=signature, forget_at=datetime.fromtimestamp(expires, now.tzinfo))
        .on_conflict_do_nothing()
        .returning(SpentSignInProof.signature)
    ).first()
    if spent is None:
        return SignInProof.REUSED
    forgotten = (
        sa.select(SpentSignInProof.signature)
        .where(SpentSignInProof.forget_at <= now)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(sa.delete(SpentSignInProof).where(SpentSignInProof.signature.in_(forgotten)))
    session.flush()
    return None
