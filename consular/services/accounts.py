"""Staff accounts: signing in, changing passwords, ending sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from consular.auth import hash_password, verify_password
from consular.models import User
from consular.services.audit import record
from consular.services.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 12


def authenticate(session: Session, email: str, password: str, now: datetime) -> User | None:
    """The active account with this email and password, or None (same answer for both)."""
    user = session.scalar(sa.select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        verify_password(User(password_hash=_DUMMY_HASH), password or "")  # same time either way
        return None
    if not user.active or not verify_password(user, password or ""):
        return None
    user.last_sign_in_at = now
    return user


def end_sessions(user: User) -> None:
    """End every signed-in session of the account: copied cookies stop working at once."""
    user.session_version = user.session_version + 1


def change_password(
    session: Session, user: User, current: str, new: str, repeated: str, now: datetime
) -> None:
    """Change the account's password and end its other sessions."""
    errors: dict[str, list[str]] = {}
    if not verify_password(user, current or ""):
        errors["current_password"] = [_("The current password is wrong.")]
    if len(new or "") < MIN_PASSWORD_LENGTH:
        errors["new_password"] = [
            _("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH)
        ]
    elif new == current:
        errors["new_password"] = [_("Choose a password different from the current one.")]
    if new != repeated:
        errors["repeat_password"] = [_("The two new passwords are not the same.")]
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    end_sessions(user)
    record(session, user, now, "change_password", user, office_id=None)


_DUMMY_HASH = hash_password("not a real password, only for timing")
