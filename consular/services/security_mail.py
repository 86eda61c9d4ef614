"""E-mails that tell a member of staff how they sign in has changed (ASVS 6.3.7): a new or
removed second factor, new or used recovery codes, a reset by an administrator, a new
password. Someone who took over the account can't hide the change from its owner."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _

from consular.database import SessionLike
from consular.models import OutboxMessage, User
from consular.services import notifications
from consular.services.timefmt import local_date_text, local_time_text

KIND = "staff_security"
KOREA = ZoneInfo("Asia/Seoul")
CHANGES: tuple[str, ...] = (
    "password_changed",
    "passkey_added",
    "passkey_removed",
    "authenticator_app_added",
    "authenticator_app_removed",
    "recovery_codes_made",
    "recovery_code_used",
    "second_factors_reset",
)


def _what_changed(change: str) -> str:
    return {
        "password_changed": _("The password of your staff account was changed."),
        "passkey_added": _("A passkey was added to your staff account."),
        "passkey_removed": _("A passkey was removed from your staff account."),
        "authenticator_app_added": _("An authenticator app was set up for your staff account."),
        "authenticator_app_removed": _(
            "The authenticator app was removed from your staff account."
        ),
        "recovery_codes_made": _(
            "New recovery codes were made for your staff account; the old ones no longer work."
        ),
        "recovery_code_used": _("Someone signed in to your staff account with a recovery code."),
        "second_factors_reset": _(
            "An administrator removed every second factor of your staff account. You will set "
            "up a new one at your next sign-in."
        ),
    }[change]


def queue_security_notice(
    session: SessionLike, user: User, change: str, now: datetime
) -> OutboxMessage:
    """Tell the account's owner, in their language, what changed and when."""

    def content() -> dict[str, Any]:
        language = user.language
        when = f"{local_date_text(now, KOREA, language)}, {local_time_text(now, KOREA, language)}"
        base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
        return {
            "title": _("The sign-in of your staff account has changed"),
            "office_name": _("Consular appointments"),
            "paragraphs": [
                _("Hello %(name)s,", name=user.name),
                _what_changed(change),
                _(
                    "If it was you, there is nothing to do. If it was not, tell an "
                    "administrator at once: they can end every session of your account and "
                    "reset its password and second factors."
                ),
            ],
            "facts": [
                (_("Account"), user.email),
                (_("When (Korea time)"), when),
            ],
            "link": (_("Sign-in security"), f"{base}/staff/security"),
        }

    return notifications.queue_notice_email(
        session,
        kind=KIND,
        recipient=user.email,
        language=user.language,
        content=content,
        now=now,
    )
