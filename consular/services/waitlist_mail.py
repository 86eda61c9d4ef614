"""The e-mails of waiting-list entries, in the entrant's language, written to the outbox in
the transaction that causes them (see services/notifications.py). They share the lottery's
plain layout: paragraphs, facts and one link."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from consular.database import SessionLike
from consular.models import OutboxMessage, WaitlistEntry
from consular.models.i18n import localized
from consular.services import notifications
from consular.services.timefmt import day_text, local_date_text, local_time_text

KINDS = ("code", "joined", "offered", "lapsed")


def entry_url(reference: str, token: str) -> str:
    """The link that opens an entry in any browser."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/waitlist/{reference}/{token}"


def _moment(at: datetime, entry: WaitlistEntry) -> str:
    zone, locale = entry.office.zone, entry.language
    return _(
        "%(date)s at %(time)s",
        date=local_date_text(at, zone, locale),
        time=local_time_text(at, zone, locale),
    )


def _content(
    entry: WaitlistEntry, kind: str, *, code: str | None, token: str | None, minutes: int
) -> dict[str, Any]:
    office = entry.office
    locale = entry.language
    hello = _("Hello %(name)s,", name=entry.given_name)
    days = _(
        "%(first)s to %(last)s",
        first=day_text(entry.first_day, locale),
        last=day_text(entry.last_day, locale),
    )
    facts: list[tuple[str, str]] = [
        (_("Waiting list reference"), entry.reference),
        (_("Office"), localized(office.name, locale)),
        (_("Services"), ", ".join(localized(s.name, locale) for s in entry.services)),
        (_("Days"), days),
    ]
    link: tuple[str, str] | None = None
    if kind == "code":
        subject = _("Your waiting list code: %(code)s", code=code)
        paragraphs = [
            hello,
            _("Your code is: %(code)s", code=code),
            _(
                "Enter it on the waiting list page within %(minutes)d minutes to join the list.",
                minutes=minutes,
            ),
            _("If you did not ask to join, you can ignore this email."),
        ]
    elif kind == "joined":
        subject = _("You are on the waiting list: %(reference)s", reference=entry.reference)
        paragraphs = [
            hello,
            _(
                "You are on the waiting list. When a seat that fits your days frees, we hold "
                "it for you and email you a link to claim it."
            ),
            _("You can see your place or leave the list with the link below."),
        ]
        link = (_("See your place on the list"), entry_url(entry.reference, token or ""))
    elif kind == "offered":
        appointment = entry.appointment
        assert appointment is not None and entry.claim_by is not None
        subject = _("A seat for you: %(reference)s", reference=entry.reference)
        facts.append((_("Date and time"), _moment(appointment.starts_at, entry)))
        paragraphs = [
            hello,
            _(
                "A seat has freed and we are holding it for you: %(moment)s. Claim it by "
                "%(deadline)s; after that it goes to the next person waiting.",
                moment=_moment(appointment.starts_at, entry),
                deadline=_moment(entry.claim_by, entry),
            ),
            _("If you can't come then, decline it with the same link: that helps the next one."),
        ]
        link = (_("Claim or decline the seat"), entry_url(entry.reference, token or ""))
    elif kind == "lapsed":
        subject = _("The seat offered to you has gone: %(reference)s", reference=entry.reference)
        paragraphs = [
            hello,
            _(
                "The seat we held for you was not claimed in time, so it has gone to the next "
                "person waiting, and your entry has left the list."
            ),
            _("You can join the waiting list again from the booking pages."),
        ]
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        link = (_("Book an appointment"), f"{base}/book")
    else:
        raise ValueError(f"unknown waiting-list e-mail {kind!r}")
    return {
        "language": locale,
        "title": subject,
        "office_name": localized(office.name, locale),
        "paragraphs": paragraphs,
        "facts": [(label, value) for label, value in facts if value],
        "link": link,
    }


def queue_entry_email(
    session: SessionLike,
    entry: WaitlistEntry,
    kind: str,
    now: datetime,
    *,
    code: str | None = None,
    token: str | None = None,
) -> OutboxMessage:
    """Put one of the entry's e-mails (see KINDS) in the outbox."""
    minutes = max(1, round((entry.code_expires_at - now).total_seconds() / 60))
    message = notifications.queue_notice_email(
        session,
        kind=f"waitlist_{kind}",
        recipient=entry.email,
        language=entry.language,
        content=lambda: _content(entry, kind, code=code, token=token, minutes=minutes),
        now=now,
        appointment=entry.appointment if kind == "offered" else None,
    )
    session.flush()
    return message
