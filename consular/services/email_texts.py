"""The subject and message text of every email, per language: built in, or an administrator's.

An administrator's text is a template that may contain nothing but literal text and
placeholders such as ``{{ reference }}``. It is checked twice against the placeholders of its
kind of email: when it is saved, and again before every rendering, in a sandboxed Jinja
environment. A stored text that no longer passes is never used; the built-in text is, so an
email is never lost to a bad text. The text part gets the rendered text as it is; the HTML
part gets it escaped as a whole, then split into paragraphs, so neither the administrator's
words nor the values can add markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import sqlalchemy as sa
from flask_babel import LazyString, force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError

from consular.database import SessionLike
from consular.models import User
from consular.models.email_text import EmailText
from consular.models.i18n import FALLBACK_LANGUAGE, LANGUAGES
from consular.services.audit import record
from consular.services.errors import ConcurrentChange, NotFound, ValidationFailed

KINDS: tuple[str, ...] = (
    "code",
    "confirmation",
    "reminder",
    "change",
    "cancellation",
    "schedule_change",
    "review_cancellation",
    "lookup_alert",
)
KIND_LABELS: dict[str, LazyString] = {
    "code": _l("Confirmation code"),
    "confirmation": _l("Appointment confirmed"),
    "reminder": _l("Reminder before the visit"),
    "change": _l("New time of an appointment"),
    "cancellation": _l("Cancellation"),
    "schedule_change": _l("Cancelled by the office (schedule change)"),
    "review_cancellation": _l("Cancelled by the office (review of suspicious bookings)"),
    "lookup_alert": _l("Booking looked up with wrong IINs"),
}
SUBJECT_MAX_LENGTH = 200
BODY_MAX_LENGTH = 5000
# A subject is one line; values can make it longer than its template, but not without end.
RENDERED_SUBJECT_MAX_LENGTH = 250


@dataclass(frozen=True)
class Placeholder:
    """A value an email text may show, written ``{{ name }}``."""

    name: str
    description: LazyString

    @property
    def tag(self) -> str:
        """How the placeholder is written in a text."""
        return "{{ " + self.name + " }}"


_REFERENCE = Placeholder("reference", _l("The booking reference"))
_NAME = Placeholder("name", _l("The citizen's given name"))
_OFFICE = Placeholder("office", _l("The office's name"))
_DATE = Placeholder("date", _l("The date of the visit"))
_TIME = Placeholder("time", _l("The time of the visit"))
_CODE = Placeholder("code", _l("The 6-digit confirmation code"))
_MINUTES = Placeholder("minutes", _l("How many minutes the time is held for the code"))
_DAYS = Placeholder("days", _l("How many days before the visit the reminder is sent"))
_MANAGE_LINK = Placeholder("manage_link", _l("The link to see, change or cancel the appointment"))
_BOOK_LINK = Placeholder("book_link", _l("The link to book a new appointment"))
_VISIT = (_REFERENCE, _NAME, _OFFICE, _DATE, _TIME)

PLACEHOLDERS: dict[str, tuple[Placeholder, ...]] = {
    "code": (*_VISIT, _CODE, _MINUTES),
    "confirmation": (*_VISIT, _MANAGE_LINK),
    "reminder": (*_VISIT, _DAYS, _MANAGE_LINK),
    "change": (*_VISIT, _MANAGE_LINK),
    "cancellation": (*_VISIT, _BOOK_LINK),
    "schedule_change": (*_VISIT, _BOOK_LINK),
    "review_cancellation": (*_VISIT, _BOOK_LINK),
    "lookup_alert": _VISIT,
}
# Without these in its message text an email would be useless.
REQUIRED_IN_BODY: dict[str, tuple[str, ...]] = {"code": ("code",)}

# Only the text the sandbox needs to see: data and `{{ name }}`, nothing else.
_ALLOWED_TOKENS = frozenset({"data", "variable_begin", "variable_end", "name", "whitespace"})
_SANDBOX = ImmutableSandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_FORMAT = re.compile(r"%\((\w+)\)[sd]|%%")


@dataclass(frozen=True)
class EmailWording:
    """The subject and message text of one email in one language, as templates."""

    subject: str
    body: str
    is_custom: bool = False


@dataclass(frozen=True)
class RenderedText:
    """An email's subject and message text with the values filled in."""

    subject: str
    text: str
    html: Markup


def placeholders(kind: str) -> tuple[Placeholder, ...]:
    """The placeholders the texts of this kind of email may use."""
    return PLACEHOLDERS[kind]


def _as_template(translated: str) -> str:
    """Turn a translated message's `%(name)s` into the placeholder `{{ name }}`."""
    return _FORMAT.sub(
        lambda match: "%" if match.group(0) == "%%" else "{{ " + match.group(1) + " }}",
        translated,
    )


def _paragraphs(*messages: str) -> str:
    return "\n\n".join(_as_template(message) for message in messages)


@lru_cache(maxsize=128)
def default_text(kind: str, language: str) -> EmailWording:
    """The built-in wording of an email, in the app's translation for the language (made
    once per process: the catalogs do not change while it runs)."""
    with force_locale(language):
        # Called without values, gettext leaves %(name)s in place for _as_template.
        hello = _("Hello %(name)s,")
        if kind == "code":
            subject = _("Your confirmation code: %(code)s")
            body = _paragraphs(
                hello,
                _("Your confirmation code is: %(code)s"),
                _(
                    "Enter this code on the booking page within %(minutes)d minutes. "
                    "Until then the time is only held for you, not booked."
                ),
                _(
                    "If you did not ask for this appointment, ignore this message: "
                    "the hold ends by itself."
                ),
            )
        elif kind == "confirmation":
            subject = _("Appointment confirmed: %(reference)s")
            body = _paragraphs(hello, _("Your appointment is confirmed."))
        elif kind == "reminder":
            subject = _("Reminder: your consular appointment %(reference)s")
            body = _paragraphs(
                hello,
                _("Your consular appointment is coming up. Here are its details."),
                _("If you cannot come, please cancel so that someone else can have the time."),
            )
        elif kind == "change":
            subject = _("New time for your appointment %(reference)s")
            body = _paragraphs(
                hello,
                _(
                    "Your appointment has been moved to a new time. "
                    "The previous time is no longer valid."
                ),
            )
        elif kind == "cancellation":
            subject = _("Appointment cancelled: %(reference)s")
            body = _paragraphs(hello, _("Your appointment has been cancelled."))
        elif kind == "schedule_change":
            subject = _("Your appointment %(reference)s is cancelled by the office")
            body = _paragraphs(
                hello,
                _(
                    "We are sorry: the office's schedule has changed, "
                    "and your appointment had to be cancelled."
                ),
            )
        elif kind == "review_cancellation":
            subject = _("Your appointment %(reference)s has been cancelled")
            body = _paragraphs(
                hello,
                _(
                    "The office has reviewed recent bookings and cancelled your "
                    "appointment. Its message below explains why."
                ),
            )
        elif kind == "lookup_alert":
            subject = _("Someone tried to open your booking %(reference)s")
            body = _paragraphs(
                hello,
                _(
                    "Someone tried to open your booking on our website with its reference "
                    "and a wrong IIN. Your booking is unchanged."
                ),
                _(
                    "If it was you, there is nothing to do. If it was not, keep your "
                    "reference to yourself; only the person with the right IIN or the link "
                    "in your e-mails can open it."
                ),
            )
        else:
            raise NotFound(_("There is no such email."), "kind")
    return EmailWording(subject=_as_template(subject), body=body)


@lru_cache(maxsize=1)
def _find_query() -> sa.Select:
    # Built once: every hold and booking looks its wording up.
    return sa.select(EmailText).where(
        EmailText.kind == sa.bindparam("kind"), EmailText.language == sa.bindparam("language")
    )


def _find(session: SessionLike, kind: str, language: str) -> EmailText | None:
    return session.scalar(_find_query(), {"kind": kind, "language": language})


def customised(session: SessionLike) -> dict[tuple[str, str], bool]:
    """The (kind, language) pairs with an administrator's text, and whether it is in use
    (False: it no longer passes the checks, so the built-in text is sent)."""
    rows = session.execute(
        sa.select(EmailText.kind, EmailText.language, EmailText.subject, EmailText.body)
    )
    return {
        (kind, language): kind in KINDS and is_valid(kind, subject, body)
        for kind, language, subject, body in rows
    }


def stored_text(session: SessionLike, kind: str, language: str) -> EmailWording | None:
    """The administrator's wording of an email, valid or not; None if there is none."""
    stored = _find(session, kind, language)
    if stored is None:
        return None
    return EmailWording(subject=stored.subject, body=stored.body, is_custom=True)


def template_errors(kind: str, source: str, *, required: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with a text: only literal text and known placeholders are allowed."""
    allowed = {placeholder.name for placeholder in placeholders(kind)}
    only_placeholders = _(
        "Only placeholders such as {{ reference }} are allowed: no other template code."
    )
    # The tokens first: they show comments and raw blocks, which leave no trace in the tree,
    # and the parser then only ever sees text and names.
    try:
        if any(token not in _ALLOWED_TOKENS for _line, token, _value in _SANDBOX.lex(source)):
            return [only_placeholders]
        tree = _SANDBOX.parse(source)
    except TemplateError:
        return [only_placeholders]
    errors: list[str] = []
    used: set[str] = set()
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return [only_placeholders]
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                continue
            if not isinstance(node, nodes.Name) or node.ctx != "load":
                return [only_placeholders]
            if node.name not in allowed:
                message = _(
                    "{{ %(name)s }} is not a placeholder of this email. You can use: "
                    "%(placeholders)s.",
                    name=node.name,
                    placeholders=", ".join(p.tag for p in placeholders(kind)),
                )
                if message not in errors:
                    errors.append(message)
            used.add(node.name)
    for name in required:
        if name not in used:
            errors.append(_("This email must contain the placeholder {{ %(name)s }}.", name=name))
    return errors


def normalize(subject: str, body: str) -> tuple[str, str]:
    """One line of subject; the body with plain line ends and no control characters."""
    subject = " ".join(_CONTROL.sub(" ", subject.replace("\r", " ").replace("\n", " ")).split())
    body = _CONTROL.sub("", body.replace("\r\n", "\n").replace("\r", "\n")).strip()
    return subject, body


def validate(kind: str, subject: str, body: str) -> None:
    """Refuse a text that is empty, too long or more than text and placeholders."""
    fields: dict[str, list[str]] = {}
    if not subject:
        fields["subject"] = [_("Enter the subject.")]
    elif len(subject) > SUBJECT_MAX_LENGTH:
        fields["subject"] = [
            _("The subject can be at most %(count)d characters.", count=SUBJECT_MAX_LENGTH)
        ]
    elif problems := template_errors(kind, subject):
        fields["subject"] = problems
    if not body:
        fields["body"] = [_("Enter the message text.")]
    elif len(body) > BODY_MAX_LENGTH:
        fields["body"] = [
            _("The message text can be at most %(count)d characters.", count=BODY_MAX_LENGTH)
        ]
    elif problems := template_errors(kind, body, required=REQUIRED_IN_BODY.get(kind, ())):
        fields["body"] = problems
    if fields:
        raise ValidationFailed(fields)


def is_valid(kind: str, subject: str, body: str) -> bool:
    """Whether a wording passes `validate`."""
    try:
        validate(kind, subject, body)
    except ValidationFailed:
        return False
    return True


def text_to_html(text: str) -> Markup:
    """Escape a plain text as a whole; blank lines make paragraphs and newlines line breaks."""
    paragraphs = [part.strip("\n") for part in re.split(r"\n[ \t]*\n", text.strip())]
    html = "".join(
        '<p style="font-size:15px;">' + str(escape(part)).replace("\n", "<br>\n") + "</p>\n"
        for part in paragraphs
        if part.strip()
    )
    return Markup(html)


@lru_cache(maxsize=512)
def _compiled(kind: str, subject: str, body: str) -> tuple[Template, Template]:
    """A valid wording, checked and compiled once (each email would otherwise parse it
    twice again); raises ValidationFailed, which is not kept, for an invalid one."""
    validate(kind, subject, body)
    return _SANDBOX.from_string(subject), _SANDBOX.from_string(body)


def render_wording(kind: str, wording: EmailWording, values: dict[str, str]) -> RenderedText:
    """Fill in a valid wording's placeholders; raise ValidationFailed if it is not valid."""
    subject_template, body_template = _compiled(kind, wording.subject, wording.body)
    allowed = {placeholder.name for placeholder in placeholders(kind)}
    context = {name: str(value) for name, value in values.items() if name in allowed}
    subject = subject_template.render(context)
    text = body_template.render(context)
    subject = " ".join(subject.split())[:RENDERED_SUBJECT_MAX_LENGTH]
    return RenderedText(subject=subject, text=text, html=text_to_html(text))


def render(session: SessionLike, kind: str, language: str, values: dict[str, str]) -> RenderedText:
    """An email's subject and text in its language: the administrator's, else the built-in."""
    stored = _find(session, kind, language)
    if stored is not None:
        wording = EmailWording(subject=stored.subject, body=stored.body, is_custom=True)
        try:
            return render_wording(kind, wording, values)
        except (ValidationFailed, TemplateError):
            pass  # a text that no longer fits its placeholders: the built-in one goes out
    try:
        return render_wording(kind, default_text(kind, language), values)
    except (ValidationFailed, TemplateError):
        # A translation that breaks the placeholders: English rather than no email.
        return render_wording(kind, default_text(kind, FALLBACK_LANGUAGE), values)


def _check_email(kind: str, language: str) -> None:
    if kind not in KINDS or language not in LANGUAGES:
        raise NotFound(_("There is no such email."), "kind")


def save_text(
    session: SessionLike,
    actor: User | None,
    now: datetime,
    kind: str,
    language: str,
    subject: str,
    body: str,
) -> EmailText:
    """Store an administrator's wording of an email after checking it, with an audit entry."""
    _check_email(kind, language)
    subject, body = normalize(subject, body)
    validate(kind, subject, body)
    stored = _find(session, kind, language)
    before = {"subject": stored.subject, "body": stored.body} if stored is not None else None
    if stored is None:
        stored = EmailText(kind=kind, language=language, subject=subject, body=body)
        session.add(stored)
    stored.subject, stored.body = subject, body
    stored.updated_at = now
    stored.updated_by_id = actor.id if actor is not None else None
    try:
        session.flush()
    except IntegrityError as error:  # another administrator saved the first text meanwhile
        raise ConcurrentChange("body") from error
    after = {"subject": subject, "body": body}
    if before != after:
        record(
            session,
            actor,
            now,
            "update_email_text",
            stored,
            office_id=None,
            before=_audited(kind, language, before),
            after=_audited(kind, language, after),
        )
    return stored


def reset_text(
    session: SessionLike, actor: User | None, now: datetime, kind: str, language: str
) -> bool:
    """Go back to the built-in wording; False if there was no administrator's text."""
    _check_email(kind, language)
    stored = _find(session, kind, language)
    if stored is None:
        return False
    before = {"subject": stored.subject, "body": stored.body}
    record(
        session,
        actor,
        now,
        "reset_email_text",
        stored,
        office_id=None,
        before=_audited(kind, language, before),
    )
    session.delete(stored)
    session.flush()
    return True


def _audited(kind: str, language: str, texts: dict[str, str] | None) -> dict[str, str] | None:
    if texts is None:
        return None
    return {"kind": kind, "language": language, **texts}
