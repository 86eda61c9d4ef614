"""Staff accounts: signing in, changing passwords, ending sessions, and their administration."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from consular.database import SessionLike
from consular.models import Office, PasswordHandover, Role, User
from consular.models.i18n import LANGUAGES
from consular.services import password_policy
from consular.services.audit import record
from consular.services.errors import DomainError, ValidationFailed
from consular.services.identity import normalize_email
from consular.services.passwords import hash_password, needs_rehash, verify_password
from consular.services.security_mail import queue_security_notice

MIN_PASSWORD_LENGTH = password_policy.MIN_LENGTH
ROLES: tuple[str, ...] = (Role.CLERK, Role.MANAGER, Role.ADMIN)
MAX_NAME_LENGTH = 200
# No 0/O, 1/l/I: the temporary password is read out or copied by hand.
_PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_PASSWORD_GROUPS = 4
_PASSWORD_GROUP_LENGTH = 5  # 20 characters from 57: about 116 bits


def authenticate(session: SessionLike, email: str, password: str, now: datetime) -> User | None:
    """The active account with this email and password, or None (same answer for both)."""
    user = session.scalar(sa.select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        verify_password(User(password_hash=_DUMMY_HASH), password or "")  # same time either way
        return None
    # A deactivated account's password is verified too: its answer takes the same work.
    verified = verify_password(user, password or "")
    if not user.active or not verified:
        return None
    if needs_rehash(user):  # the hasher's parameters rose since: only now is the password known
        user.password_hash = hash_password(password)
    user.last_sign_in_at = now
    return user


def end_sessions(user: User) -> None:
    """End every signed-in session of the account: copied cookies stop working at once."""
    user.session_version = user.session_version + 1


def change_password(
    session: SessionLike, user: User, current: str, new: str, repeated: str, now: datetime
) -> None:
    """Change the account's password (to one the password policy accepts) and end its other
    sessions."""
    errors: dict[str, list[str]] = {}
    if not verify_password(user, current or ""):
        errors["current_password"] = [_("The current password is wrong.")]
    offices = session.scalars(sa.select(Office).order_by(Office.id)).all()
    words = password_policy.context_words(user.name, user.email, offices)
    problems = password_policy.password_problems(new or "", words)
    if problems:
        errors["new_password"] = problems
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
    queue_security_notice(session, user, "password_changed", now)


def temporary_password() -> str:
    """A strong random password in groups of five, easy to read out: abcde-fghij-…"""
    return "-".join(
        "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(_PASSWORD_GROUP_LENGTH))
        for _ in range(_PASSWORD_GROUPS)
    )


def accounts_query(
    *,
    role: str | None = None,
    office_id: int | None = None,
    active: bool | None = None,
    search: str | None = None,
) -> sa.Select[tuple[User]]:
    """Accounts matching the filters, by name; `search` looks in names and emails."""
    query = (
        sa.select(User)
        .options(selectinload(User.offices))
        .order_by(sa.func.lower(User.name), User.id)
    )
    if role:
        query = query.where(User.role == role)
    if office_id is not None:
        query = query.where(User.offices.any(Office.id == office_id))
    if active is not None:
        query = query.where(User.active.is_(active))
    words = (search or "").strip().lower()
    if words:
        pattern = "%" + _escape_like(words) + "%"
        query = query.where(
            sa.or_(
                sa.func.lower(User.name).like(pattern, escape="\\"),
                sa.func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    return query


def _escape_like(text: str) -> str:
    """Search for `%` and `_` as themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def account_values(user: User) -> dict[str, Any]:
    """What the audit log keeps of an account: never the password or its hash."""
    return {
        "email": user.email,
        "name": user.name,
        "role": str(user.role),
        "offices": [office.code for office in user.offices],
        "language": user.language,
        "active": user.active,
    }


def _changes(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def _check_details(
    name: str, role: str, offices: Sequence[Office], language: str
) -> tuple[str, dict[str, list[str]]]:
    """The cleaned name and the errors of the fields every account has."""
    errors: dict[str, list[str]] = {}
    cleaned = " ".join((name or "").split())
    if not cleaned:
        errors["name"] = [_("Enter the person's name.")]
    elif len(cleaned) > MAX_NAME_LENGTH:
        errors["name"] = [_("Use at most %(count)d characters.", count=MAX_NAME_LENGTH)]
    if role not in ROLES:
        errors["role"] = [_("Choose a role.")]
    elif role != Role.ADMIN and not offices:
        errors["offices"] = [_("Clerks and managers need at least one office.")]
    if language not in LANGUAGES:
        errors["language"] = [_("Choose a language.")]
    return cleaned, errors


def _duplicate_email() -> ValidationFailed:
    return ValidationFailed({"email": [_("An account with this email address exists already.")]})


LOCAL_DOMAIN = ".localhost"


def account_email(value: str, *, allow_localhost: bool = False) -> str | None:
    """An account's email address, normalised, or None if it is not one. With
    `allow_localhost` (debug mode), an address under `.localhost`, as the demo's accounts
    have, is accepted too: it is checked like the same address under a public domain."""
    value = (value or "").strip()
    domain = value.rpartition("@")[2].lower()
    if allow_localhost and domain.endswith(LOCAL_DOMAIN) and domain != LOCAL_DOMAIN[1:]:
        stand_in = normalize_email(value[: -len(LOCAL_DOMAIN)] + ".com")
        return None if stand_in is None else stand_in[: -len(".com")] + LOCAL_DOMAIN
    return normalize_email(value)


def create_account(
    session: SessionLike,
    actor: User,
    now: datetime,
    email: str,
    name: str,
    role: str,
    offices: Sequence[Office],
    language: str,
    *,
    allow_localhost: bool = False,
) -> tuple[User, str]:
    """Create an account with a temporary password, to be changed at the first sign-in;
    `allow_localhost` accepts the demo's own `.localhost` addresses (debug mode only)."""
    cleaned_name, errors = _check_details(name, role, offices, language)
    normalized = account_email(email, allow_localhost=allow_localhost)
    if normalized is None:
        errors["email"] = [_("Enter an email address like name@example.org.")]
    else:
        normalized = normalized.lower()  # sign-in compares in lower case
        taken = session.scalar(
            sa.select(User.id).where(sa.func.lower(User.email) == normalized).limit(1)
        )
        if taken is not None:
            errors.update(_duplicate_email().fields)
    if errors:
        raise ValidationFailed(errors)
    assert normalized is not None
    password = temporary_password()
    user = User(
        email=normalized,
        name=cleaned_name,
        role=role,
        offices=list(offices),
        language=language,
        password_hash=hash_password(password),
        active=True,
        must_change_password=True,
        created_at=now,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as error:  # another administrator created it a moment ago
        raise _duplicate_email() from error
    record(session, actor, now, "create_account", user, office_id=None, after=account_values(user))
    return user, password


def _active_admin_ids(session: SessionLike) -> list[int]:
    # Locks the active administrators' rows (PostgreSQL), so two admins cannot demote or
    # deactivate each other at the same time; SQLite's BEGIN IMMEDIATE already serialises.
    return list(
        session.scalars(
            sa.select(User.id)
            .where(User.role == Role.ADMIN, User.active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
    )


def is_last_active_admin(session: SessionLike, user: User) -> bool:
    """Whether the account is the only active administrator left."""
    return user.is_admin and user.active and _active_admin_ids(session) == [user.id]


def update_account(
    session: SessionLike,
    actor: User,
    now: datetime,
    user: User,
    *,
    name: str,
    role: str,
    offices: Sequence[Office],
    language: str,
    active: bool | None = None,
) -> bool:
    """Change an account's name, role, offices, language (and whether it is active).

    Returns whether anything changed. Deactivation ends the account's sessions at once.
    """
    cleaned_name, errors = _check_details(name, role, offices, language)
    if errors:
        raise ValidationFailed(errors)
    losing_admin = user.is_admin and user.active and (role != Role.ADMIN or active is False)
    if losing_admin and user.id == actor.id:
        field = "role" if role != Role.ADMIN else "active"
        raise ValidationFailed({field: [_("You cannot take away your own administrator access.")]})
    if active is False and user.id == actor.id:
        raise ValidationFailed({"active": [_("You cannot deactivate your own account.")]})
    if losing_admin and is_last_active_admin(session, user):
        field = "role" if role != Role.ADMIN else "active"
        raise ValidationFailed(
            {field: [_("This is the last active administrator: keep it, or make another first.")]}
        )
    before = account_values(user)
    user.name = cleaned_name
    user.role = role
    user.offices = list(offices)
    user.language = language
    if active is not None:
        if user.active and not active:
            end_sessions(user)
        user.active = active
    session.flush()
    old, new = _changes(before, account_values(user))
    if not new:
        return False
    record(session, actor, now, "update_account", user, office_id=None, before=old, after=new)
    return True


def deactivate_account(session: SessionLike, actor: User, now: datetime, user: User) -> None:
    """Deactivate an account: it can no longer sign in and its sessions end at once."""
    if user.id == actor.id:
        raise DomainError(_("You cannot deactivate your own account."), field="active")
    if not user.active:
        return
    if is_last_active_admin(session, user):
        raise DomainError(
            _("This is the last active administrator: keep it, or make another first."),
            field="active",
        )
    user.active = False
    end_sessions(user)
    session.flush()
    record(
        session,
        actor,
        now,
        "deactivate_account",
        user,
        office_id=None,
        before={"active": True},
        after={"active": False},
    )


def reactivate_account(session: SessionLike, actor: User, now: datetime, user: User) -> None:
    """Let a deactivated account sign in again."""
    if user.active:
        return
    user.active = True
    session.flush()
    record(
        session,
        actor,
        now,
        "reactivate_account",
        user,
        office_id=None,
        before={"active": False},
        after={"active": True},
    )


def reset_password(session: SessionLike, actor: User, now: datetime, user: User) -> str:
    """Give the account a new temporary password (returned once) and end its sessions."""
    if user.id == actor.id:
        raise DomainError(_("Change your own password on the password page."), field="password")
    password = temporary_password()
    before = {"must_change_password": user.must_change_password}
    user.password_hash = hash_password(password)
    user.must_change_password = True
    end_sessions(user)
    session.flush()
    record(
        session,
        actor,
        now,
        "reset_password",
        user,
        office_id=None,
        before=before,
        after={"must_change_password": True},
    )
    return password


_DUMMY_HASH = hash_password("not a real password, only for timing")


# A temporary password is shown once, to the administrator who made it.

HANDOVER_MINUTES = 10


def seal_password(
    session: SessionLike, account: User, admin: User, password: str, now: datetime
) -> tuple[int, str]:
    """Keep the temporary password for one showing: the record holds it XORed with a
    random pad, which is returned (with the record's id) for the administrator's session
    only. Older records nobody came to see are deleted on the way."""
    session.execute(
        sa.delete(PasswordHandover)
        .where(PasswordHandover.created_at < now - timedelta(minutes=HANDOVER_MINUTES))
        .execution_options(synchronize_session=False)
    )
    plain = password.encode()
    pad = secrets.token_bytes(len(plain))
    record_row = PasswordHandover(
        account_id=account.id,
        admin_id=admin.id,
        sealed=bytes(a ^ b for a, b in zip(plain, pad, strict=True)).hex(),
        created_at=now,
    )
    session.add(record_row)
    session.flush()
    return record_row.id, pad.hex()


def open_password(
    session: SessionLike, handover_id: int, pad_hex: str, account: User, admin: User, now: datetime
) -> str | None:
    """The temporary password of the record, once: the record is deleted as it is read (a
    conditional delete, so two pages racing show it at most once). None when it was shown
    already, is too old, or belongs to another account or administrator."""
    sealed = session.execute(
        sa.delete(PasswordHandover)
        .where(
            PasswordHandover.id == handover_id,
            PasswordHandover.account_id == account.id,
            PasswordHandover.admin_id == admin.id,
            PasswordHandover.created_at >= now - timedelta(minutes=HANDOVER_MINUTES),
        )
        .returning(PasswordHandover.sealed)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if sealed is None:
        return None
    try:
        cipher, pad = bytes.fromhex(sealed), bytes.fromhex(pad_hex)
        return bytes(a ^ b for a, b in zip(cipher, pad, strict=True)).decode()
    except ValueError:
        return None
