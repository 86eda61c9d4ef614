"""Second factors of staff accounts: passkeys (WebAuthn), an authenticator app (TOTP) and
one-time recovery codes.

A password alone signs in only an account that has none of these and whose role does not
require one (STAFF_SECOND_FACTOR_ROLES). Each code is accepted once: a TOTP code only for a
time step later than the last one accepted, a recovery code only while unused, each by a
conditional update, so two requests racing with the same code can't both pass.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import pyotp
import sqlalchemy as sa
from flask_babel import gettext as _
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from consular.database import SessionLike
from consular.models import AuthenticatorApp, Passkey, RecoveryCode, User
from consular.services.audit import record
from consular.services.errors import DomainError, ValidationFailed
from consular.services.security_mail import queue_security_notice

RECOVERY_CODE_COUNT = 10
# Five groups of five from 31 letters and digits: about 124 bits, enough for a plain SHA-256
# to keep (ASVS 6.5.2); no 0/o or 1/l/i, as the codes are written down and typed back by hand.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_GROUPS = 5
_RECOVERY_GROUP_LENGTH = 5
MAX_PASSKEY_NAME = 80
TOTP_DIGITS = 6
# A code of the step before or after the current one is accepted too: a phone's clock may be
# half a minute off, and a code typed at the end of its step reaches us in the next.
_TOTP_WINDOW = 1


@dataclass(frozen=True)
class RelyingParty:
    """Who passkeys are registered with: the site's domain and its origin."""

    id: str
    name: str
    origin: str


@dataclass(frozen=True)
class Factors:
    """The second factors an account has."""

    passkeys: list[Passkey]
    authenticator_app: bool
    recovery_codes_left: int

    @property
    def any(self) -> bool:
        return bool(self.passkeys) or self.authenticator_app


class SecondFactorRefused(DomainError):
    """A change of second factors that is not allowed."""

    http_status = 409


def factors_of(session: SessionLike, user: User) -> Factors:
    """The account's passkeys, whether its authenticator app is set up, and its unused codes."""
    passkeys = list(
        session.scalars(
            sa.select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)
        )
    )
    app = _confirmed_app(session, user)
    codes = session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return Factors(passkeys, app is not None, int(codes or 0))


def has_second_factor(session: SessionLike, user: User) -> bool:
    """Whether signing in to this account takes a second step."""
    return factors_of(session, user).any


def required_for(user: User, roles: Collection[str]) -> bool:
    """Whether the account's role must have a second factor to use the staff pages."""
    return str(user.role) in roles


def _confirmed_app(session: SessionLike, user: User) -> AuthenticatorApp | None:
    return session.scalar(
        sa.select(AuthenticatorApp).where(
            AuthenticatorApp.user_id == user.id, AuthenticatorApp.confirmed_at.is_not(None)
        )
    )


# Authenticator app (TOTP, RFC 6238: 30-second steps, 6 digits, SHA-1 as every app expects)


def start_authenticator_app(session: SessionLike, user: User, now: datetime) -> AuthenticatorApp:
    """The account's authenticator app being set up: a new secret, unless one waits already.

    A confirmed app is left alone until it is removed, so that starting again can't lock out
    an account whose app works."""
    app = session.scalar(sa.select(AuthenticatorApp).where(AuthenticatorApp.user_id == user.id))
    if app is not None and app.confirmed_at is not None:
        raise SecondFactorRefused(_("An authenticator app is already set up for this account."))
    if app is None:
        app = AuthenticatorApp(user_id=user.id, secret=pyotp.random_base32(32), created_at=now)
        session.add(app)
        session.flush()
    return app


def provisioning_uri(app: AuthenticatorApp, user: User, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(app.secret, digits=TOTP_DIGITS).provisioning_uri(
        name=user.email, issuer_name=issuer
    )


def _clean_code(code: str) -> str:
    return "".join(character for character in code or "" if not character.isspace())


def _accept_totp(session: SessionLike, app: AuthenticatorApp, code: str, now: datetime) -> bool:
    """Accept a code of the app once: only for a later step than the last accepted."""
    code = _clean_code(code)
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return False
    totp = pyotp.TOTP(app.secret, digits=TOTP_DIGITS)
    current = totp.timecode(now)
    for step in range(current - _TOTP_WINDOW, current + _TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            taken = session.execute(
                sa.update(AuthenticatorApp)
                .where(AuthenticatorApp.id == app.id, AuthenticatorApp.last_step < step)
                .values(last_step=step, last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            session.expire(app)
            return taken.rowcount == 1  # type: ignore[attr-defined]
    return False


def confirm_authenticator_app(session: SessionLike, user: User, code: str, now: datetime) -> None:
    """Finish setting up the app with a code it shows, which proves the secret was scanned."""
    app = session.scalar(sa.select(AuthenticatorApp).where(AuthenticatorApp.user_id == user.id))
    if app is None or app.confirmed_at is not None:
        raise SecondFactorRefused(_("Start setting up the authenticator app again."))
    if not _accept_totp(session, app, code, now):
        raise ValidationFailed(
            {"code": [_("This code is not right. Enter the code the app shows now.")]}
        )
    app.confirmed_at = now
    record(session, user, now, "add_authenticator_app", user, office_id=None)
    queue_security_notice(session, user, "authenticator_app_added", now)


def verify_totp(session: SessionLike, user: User, code: str, now: datetime) -> bool:
    """Whether the code is the account's app's current code, not used before."""
    app = _confirmed_app(session, user)
    return app is not None and _accept_totp(session, app, code, now)


def remove_authenticator_app(session: SessionLike, user: User, now: datetime) -> None:
    """Remove the account's authenticator app (set up or half set up)."""
    app = session.scalar(sa.select(AuthenticatorApp).where(AuthenticatorApp.user_id == user.id))
    if app is None:
        return
    was_confirmed = app.confirmed_at is not None
    session.delete(app)
    session.flush()
    if was_confirmed:
        record(session, user, now, "remove_authenticator_app", user, office_id=None)
        queue_security_notice(session, user, "authenticator_app_removed", now)


# Recovery codes


def _code_hash(code: str) -> str:
    cleaned = "".join(character for character in (code or "").lower() if character.isalnum())
    return hashlib.sha256(cleaned.encode()).hexdigest()


def new_recovery_codes(
    session: SessionLike, user: User, now: datetime, *, with_first_factor: bool = False
) -> list[str]:
    """Replace the account's recovery codes with new ones, returned once to be written down
    (the owner is e-mailed, unless the codes come with the first factor, which is)."""
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [
        "-".join(
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LENGTH))
            for _ in range(_RECOVERY_GROUPS)
        )
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_code_hash(code), created_at=now) for code in codes
    )
    session.flush()
    record(session, user, now, "new_recovery_codes", user, office_id=None)
    if not with_first_factor:
        queue_security_notice(session, user, "recovery_codes_made", now)
    return codes


def use_recovery_code(session: SessionLike, user: User, code: str, now: datetime) -> bool:
    """Spend one of the account's unused recovery codes; whether it was one."""
    if len(code or "") > 100:
        return False
    spent = session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record(session, user, now, "use_recovery_code", user, office_id=None)
    queue_security_notice(session, user, "recovery_code_used", now)
    return True


# Passkeys (WebAuthn)


def _user_handle(user: User) -> bytes:
    # The account's id, not its e-mail: the handle is stored on the authenticator.
    return f"consular-staff-{user.id}".encode()


def registration_options(
    session: SessionLike, user: User, party: RelyingParty
) -> tuple[str, bytes]:
    """The options for navigator.credentials.create() as JSON, and their challenge."""
    existing = session.scalars(sa.select(Passkey.credential_id).where(Passkey.user_id == user.id))
    options = generate_registration_options(
        rp_id=party.id,
        rp_name=party.name,
        user_id=_user_handle(user),
        user_name=user.email,
        user_display_name=user.name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=key) for key in existing],
    )
    return options_to_json(options), options.challenge


def register_passkey(
    session: SessionLike,
    user: User,
    credential: str,
    challenge: bytes,
    party: RelyingParty,
    name: str,
    now: datetime,
) -> Passkey:
    """Keep a new passkey after checking the authenticator's answer to the challenge."""
    name = " ".join((name or "").split())[:MAX_PASSKEY_NAME] or _("Passkey")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise SecondFactorRefused(_("The passkey could not be added. Please try again.")) from error
    taken = session.scalar(
        sa.select(Passkey.id).where(Passkey.credential_id == verified.credential_id)
    )
    if taken is not None:
        raise SecondFactorRefused(_("This passkey is already registered."))
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        created_at=now,
    )
    session.add(passkey)
    session.flush()
    record(session, user, now, "add_passkey", user, office_id=None, after={"name": name})
    queue_security_notice(session, user, "passkey_added", now)
    return passkey


def authentication_options(
    session: SessionLike, user: User, party: RelyingParty
) -> tuple[str, bytes]:
    """The options for navigator.credentials.get() as JSON, and their challenge."""
    keys = session.scalars(sa.select(Passkey.credential_id).where(Passkey.user_id == user.id))
    options = generate_authentication_options(
        rp_id=party.id,
        allow_credentials=[PublicKeyCredentialDescriptor(id=key) for key in keys],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), options.challenge


def verify_passkey(
    session: SessionLike,
    user: User,
    credential: str,
    challenge: bytes,
    party: RelyingParty,
    now: datetime,
) -> bool:
    """Whether the answer was signed by one of the account's passkeys for this challenge.

    The signature counter must grow where the authenticator keeps one (a cloned key shows an
    older count); the update is conditional, so one answer can't be accepted twice."""
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return False
    passkey = session.scalar(
        sa.select(Passkey).where(Passkey.user_id == user.id, Passkey.credential_id == parsed.raw_id)
    )
    if passkey is None:
        return False
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return False
    counted = Passkey.sign_count < verified.new_sign_count
    if verified.new_sign_count == 0:  # an authenticator that keeps no counter
        counted = Passkey.sign_count == 0
    updated = session.execute(
        sa.update(Passkey)
        .where(Passkey.id == passkey.id, counted)
        .values(sign_count=verified.new_sign_count, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(passkey)
    return updated.rowcount == 1  # type: ignore[attr-defined]


def remove_passkey(session: SessionLike, user: User, passkey_id: int, now: datetime) -> None:
    """Remove one of the account's own passkeys."""
    passkey = session.scalar(
        sa.select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id)
    )
    if passkey is None:
        raise SecondFactorRefused(_("This passkey is not registered to your account."))
    name = passkey.name
    session.delete(passkey)
    session.flush()
    record(session, user, now, "remove_passkey", user, office_id=None, before={"name": name})
    queue_security_notice(session, user, "passkey_removed", now)


def check_removal_keeps_a_factor(session: SessionLike, user: User, roles: Collection[str]) -> None:
    """Refuse to remove the last factor of an account whose role requires one."""
    if not required_for(user, roles):
        return
    factors = factors_of(session, user)
    left = len(factors.passkeys) + int(factors.authenticator_app)
    if left <= 1:
        raise SecondFactorRefused(
            _("Your role requires a second factor: add another one before removing this one.")
        )


def reset(session: SessionLike, admin: User, user: User, now: datetime) -> None:
    """Remove every second factor of an account (its owner lost them) and end its sessions;
    the account sets up new ones at its next sign-in if its role requires them."""
    factors = factors_of(session, user)
    before = {
        "passkeys": len(factors.passkeys),
        "authenticator_app": factors.authenticator_app,
        "recovery_codes": factors.recovery_codes_left,
    }
    for model in (Passkey, AuthenticatorApp, RecoveryCode):
        session.execute(sa.delete(model).where(model.user_id == user.id))
    user.session_version = user.session_version + 1
    session.flush()
    record(session, admin, now, "reset_second_factors", user, office_id=None, before=before)
    queue_security_notice(session, user, "second_factors_reset", now)
