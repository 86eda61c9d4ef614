"""The e-mailed codes of lottery and waiting-list entries: made, checked, and a wrong one
counted, alike for both (a booking's hold code lives with the booking service)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, NoReturn

import sqlalchemy as sa
from flask_babel import gettext as _

from consular.database import SessionLike
from consular.services.booking import hash_secret
from consular.services.errors import WrongCode


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(secret: str, reference: str, code: str) -> str:
    return hash_secret(secret, f"{reference}:{code}")


def code_matches(entry: Any, given: str, secret: str) -> bool:
    """Whether `given` is the entry's current code (six digits, compared in constant time)."""
    given = (given or "").strip()
    return (
        len(given) == 6
        and given.isdigit()
        and secrets.compare_digest(entry.code_hash, code_hash(secret, entry.reference, given))
    )


def count_wrong_code(
    session: SessionLike,
    entry: Any,
    now: datetime,
    max_attempts: int,
    *,
    pending: Any,
    too_many: str,
) -> NoReturn:
    """Count a wrong code of an entry still `pending` and raise WrongCode; the last allowed
    attempt ends the entry's time for a code (the caller commits the count)."""
    model = type(entry)
    left = max(0, max_attempts - (entry.code_attempts + 1))
    values: dict[str, Any] = {"code_attempts": model.code_attempts + 1}
    if left == 0:
        values["code_expires_at"] = now
    session.execute(
        sa.update(model)
        .where(model.id == entry.id, model.status == pending)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(entry)
    if left == 0:
        raise WrongCode(too_many, 0)
    raise WrongCode(_("The code is wrong. Attempts left: %(count)d.", count=left), left)
