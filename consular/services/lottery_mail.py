"""The e-mails of lottery entries, in the entrant's language, written to the outbox in the
transaction that causes them (see services/notifications.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from consular.database import SessionLike
from consular.models import LotteryEntry, OutboxMessage
from consular.models.i18n import localized
from consular.services import notifications
from consular.services.timefmt import day_text, local_date_text, local_time_text, zone_label

KINDS = ("code", "entered", "won", "not_won", "cancelled")


def entry_url(reference: str, token: str) -> str:
    """The link that opens an entry in any browser."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/lottery/entries/{reference}/{token}"


def _moment(at: datetime, entry: LotteryEntry) -> str:
    zone = entry.release.office.zone
    locale = entry.language
    date_text, time_text = local_date_text(at, zone, locale), local_time_text(at, zone, locale)
    return _("%(date)s at %(time)s", date=date_text, time=time_text)


def _content(
    entry: LotteryEntry,
    kind: str,
    *,
    code: str | None,
    token: str | None,
    place: int | None,
    minutes: int,
) -> dict[str, Any]:
    """Subject, paragraphs, facts and link of one e-mail, in the current (entrant's) locale."""
    release = entry.release
    office = release.office
    locale = entry.language
    hello = _("Hello %(name)s,", name=entry.given_name)
    facts: list[tuple[str, str]] = [
        (_("Entry reference"), entry.reference),
        (_("Office"), localized(office.name, locale)),
        (_("Services"), ", ".join(localized(s.name, locale) for s in entry.services)),
    ]
    first, last = day_text(release.first_day, locale), day_text(release.last_day, locale)
    days = _("%(first)s to %(last)s", first=first, last=last)
    link: tuple[str, str] | None = None
    if kind == "code":
        subject = _("Your lottery entry code: %(code)s", code=code)
        paragraphs = [
            hello,
            _("Your code is: %(code)s", code=code),
            _(
                "Enter it on the entry page within %(minutes)d minutes. Until then your entry "
                "does not take part in the draw.",
                minutes=minutes,
            ),
            _("If you did not ask for this entry, ignore this message: the entry ends by itself."),
        ]
        facts.append((_("Draw"), _moment(release.draw_at, entry)))
    elif kind == "entered":
        subject = _("You are in the draw: %(reference)s", reference=entry.reference)
        paragraphs = [
            hello,
            _(
                "Your entry is in the draw. Every entry has the same chance: when it was made "
                "does not matter."
            ),
            _(
                "The draw is on %(moment)s. We will email you the result.",
                moment=_moment(release.draw_at, entry),
            ),
        ]
        facts.append((_("Days given out"), days))
        link = (_("See or withdraw your entry"), entry_url(entry.reference, token or ""))
    elif kind == "won":
        appointment = entry.appointment
        assert appointment is not None  # an offer is a hold
        deadline = _moment(appointment.hold_expires_at, entry)
        subject = _("The draw has given you an appointment: confirm by %(deadline)s",
                    deadline=deadline)  # fmt: skip
        paragraphs = [
            hello,
            _("The draw has given you an appointment."),
            _(
                "Confirm it by %(deadline)s. If you don't, it goes to the next person in the "
                "draw. If you can't come, decline it so that someone else can have it.",
                deadline=deadline,
            ),
        ]
        starts_at = appointment.starts_at
        shown_time = local_time_text(starts_at, office.zone, locale)
        zone_name = zone_label(office.zone, starts_at, locale)
        facts += [
            (_("Date"), local_date_text(starts_at, office.zone, locale)),
            (_("Time"), f"{shown_time} ({zone_name})"),
            (_("Address"), localized(office.address, locale)),
        ]
        link = (_("Confirm or decline"), entry_url(entry.reference, token or ""))
    elif kind == "not_won":
        subject = _("Lottery result: %(reference)s", reference=entry.reference)
        paragraphs = [
            hello,
            _("The draw did not give you a seat this time."),
            _(
                "You are number %(place)d in line. If a seat is declined or not confirmed, it "
                "is offered to the next person in line, and we will email you if it comes to "
                "you.",
                place=place or 0,
            ),
        ]
        if entry.wants_waitlist:
            paragraphs.append(_("We have noted that you want to join the waiting list."))
        link = (_("See your entry"), entry_url(entry.reference, token or ""))
    elif kind == "cancelled":
        subject = _("The lottery is cancelled: %(reference)s", reference=entry.reference)
        paragraphs = [
            hello,
            _(
                "The consulate has cancelled this lottery. Your entry no longer takes part, "
                "and its days can be booked in the usual way."
            ),
        ]
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        link = (_("Book an appointment"), f"{base}/book")
    else:
        raise ValueError(f"unknown lottery e-mail {kind!r}")
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
    entry: LotteryEntry,
    kind: str,
    now: datetime,
    *,
    code: str | None = None,
    token: str | None = None,
    place: int | None = None,
) -> OutboxMessage:
    """Put one of the entry's e-mails (see KINDS) in the outbox."""
    minutes = max(1, round((entry.code_expires_at - now).total_seconds() / 60))
    message = notifications.queue_notice_email(
        session,
        kind=f"lottery_{kind}",
        recipient=entry.email,
        language=entry.language,
        content=lambda: _content(entry, kind, code=code, token=token, place=place, minutes=minutes),
        now=now,
        appointment=entry.appointment if kind == "won" else None,
    )
    message.lottery_entry_id = entry.id
    session.flush()
    return message
