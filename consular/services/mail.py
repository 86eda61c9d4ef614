"""Delivery of the email outbox over SMTP, with claims, retries and backoff.

A worker claims one message at a time with a conditional UPDATE and commits the claim before
it talks to the server, so two workers never hold the same message. The result is recorded
only if the claim is still the worker's own. A claim left behind by a crashed worker is taken
over after CLAIM_TIMEOUT; that message may then reach the recipient twice, which is why the
Message-ID is fixed when the message is written: mail clients show copies with the same
Message-ID as one message.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Protocol

import sqlalchemy as sa

from consular.config import ConfigError
from consular.database import SessionLike, rows_changed
from consular.models import MailStatus, OutboxMessage

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(hours=1)
# Longer than the slowest attempt can take (connect, TLS, login and DATA, each with a timeout).
CLAIM_TIMEOUT = timedelta(minutes=10)
TLS_MODES = ("starttls", "ssl", "none")
ABANDONED_ERROR = "The worker stopped during the last attempt; giving up."


class MessageRejected(Exception):
    """The server refused this message for good (a 5xx reply to its recipient or content)."""


class ServerUnavailable(Exception):
    """The server could not be reached; the other messages would fail the same way now."""


class Transport(Protocol):
    """Hands one message to the outside world, or raises."""

    @property
    def sender(self) -> str: ...

    def send(self, email: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SMTPTransport:
    """Delivers over SMTP, with one connection per message."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    tls: str = "starttls"
    timeout: float = 30

    def send(self, email: EmailMessage) -> None:
        """Send one message; raise MessageRejected or ServerUnavailable where they apply."""
        try:
            client = self._connect()
        except OSError as error:  # refused, timed out, unknown host, no greeting, TLS failed
            raise ServerUnavailable(_describe(error)) from error
        try:
            if self.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password)
            client.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            if all(code >= 500 for code, _ in error.recipients.values()):
                raise MessageRejected(_describe(error)) from error
            raise
        except smtplib.SMTPDataError as error:
            if error.smtp_code >= 500:
                raise MessageRejected(_describe(error)) from error
            raise
        finally:
            # Once DATA is accepted the message is delivered, whatever QUIT answers.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


@dataclass(frozen=True)
class DevMailboxTransport:
    """Delivers nothing: the development mailbox page shows the outbox instead."""

    sender: str

    def send(self, email: EmailMessage) -> None:
        """Accept the message; it stays readable at /dev/mailbox."""


@dataclass
class DeliveryReport:
    """What one round of delivery did."""

    attempted: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def transport_from_config(config: Mapping[str, Any]) -> Transport:
    """Build the SMTP transport from the MAIL_* settings, or the development mailbox."""
    host = config.get("MAIL_SMTP_HOST", "")
    sender = config["MAIL_SENDER"]
    if not host:
        if not config.get("MAIL_DEV_MAILBOX"):
            raise ConfigError(
                "MAIL_SMTP_HOST is not set and MAIL_DEV_MAILBOX is off: no email would arrive."
            )
        return DevMailboxTransport(sender=sender)
    tls = str(config.get("MAIL_SMTP_TLS", "starttls")).lower()
    if tls not in TLS_MODES:
        raise ConfigError(f"MAIL_SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {tls!r}")
    return SMTPTransport(
        host=host,
        port=int(config["MAIL_SMTP_PORT"]),
        sender=sender,
        username=config.get("MAIL_SMTP_USER", ""),
        password=config.get("MAIL_SMTP_PASSWORD", ""),
        tls=tls,
        timeout=float(config.get("MAIL_SMTP_TIMEOUT", 30)),
    )


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    """Turn an outbox row into an email: text, an HTML alternative and attachments.

    The From header shows the message's sender name (the office's, in the citizen's
    language) with the configured address; Content-Language names the message's language."""
    email = EmailMessage()
    _set_from(email, sender, message.sender_name)
    email["To"] = message.recipient
    _set_subject(email, message.subject)
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text_body)
    html_part = None
    if message.html_body:
        email.add_alternative(message.html_body, subtype="html")
        html_part = email.get_body(preferencelist=("html",))
    for attachment in message.attachments or []:
        content_type, *parameters = str(attachment["content_type"]).split(";")
        maintype, _, subtype = content_type.strip().lower().partition("/")
        params = dict(_parameter(text) for text in parameters if "=" in text)
        content: str = attachment["content"]
        if attachment.get("encoding") == "base64":
            data = base64.b64decode(content)
            if attachment.get("content_id") and html_part is not None:
                # An image the HTML shows with <img src="cid:…">.
                html_part.add_related(
                    data,
                    maintype=maintype,
                    subtype=subtype,
                    # RFC 2392: the header's id is in angle brackets, the cid: URL's is not.
                    cid=f"<{attachment['content_id']}>",
                    filename=attachment["filename"],
                    disposition="inline",
                )
                continue
            email.add_attachment(
                data, maintype=maintype, subtype=subtype, filename=attachment["filename"]
            )
        elif maintype == "text":
            email.add_attachment(
                content, subtype=subtype, filename=attachment["filename"], params=params
            )
        else:
            email.add_attachment(
                content.encode(),
                maintype=maintype,
                subtype=subtype,
                filename=attachment["filename"],
                params=params,
            )
    if message.language:
        # Set last: making the message multipart moves the Content-* headers into its parts.
        email["Content-Language"] = message.language
    return email


# Bytes of UTF-8 per encoded word: 36 bytes are 48 characters of base64, so that a word and
# the header's name stay well within a line of 78.
_ENCODED_WORD_BYTES = 36


def _encoded_words(text: str) -> str:
    """Text in another script as RFC 2047 encoded words, each a whole number of characters,
    one a line.

    Written here because Python 3.11's own folding of a long encoded header drops the space
    at some folds ("консульский отдел" arrives as "консульскийотдел")."""
    words: list[str] = [""]
    for character in text:
        if len((words[-1] + character).encode()) > _ENCODED_WORD_BYTES:
            words.append("")
        words[-1] += character
    # Lines this short are sent as written, not folded again.
    return "\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words)


def _set_from(email: EmailMessage, sender: str, name: str | None) -> None:
    """The From header: the configured sender, or its address under the message's name."""
    address = parseaddr(sender)[1]
    if not name or not address:
        email["From"] = sender
    elif name.isascii():
        username, _, domain = address.rpartition("@")
        email["From"] = Address(display_name=name, username=username, domain=domain)
    else:
        email.set_raw("From", f"{_encoded_words(name)}\n <{address}>")


def _set_subject(email: EmailMessage, subject: str) -> None:
    if subject.isascii():
        email["Subject"] = subject
    else:
        email.set_raw("Subject", _encoded_words(subject))


def retry_delay(attempts: int) -> timedelta:
    """Wait after the given number of failed attempts: 1, 2, 4 … minutes, at most an hour."""
    return min(FIRST_RETRY_DELAY * 2 ** min(max(attempts - 1, 0), 16), MAX_RETRY_DELAY)


def deliver_due(
    session: SessionLike,
    transport: Transport,
    now: datetime,
    max_attempts: int,
    batch_size: int = 50,
    claim_timeout: timedelta = CLAIM_TIMEOUT,
) -> DeliveryReport:
    """Deliver up to batch_size due messages, committing each claim and each outcome."""
    report = DeliveryReport()
    _give_up_abandoned(session, now, max_attempts, claim_timeout)
    while report.attempted < batch_size:
        claim = _claim_next(session, now, claim_timeout, transport.sender)
        if claim is None:
            break
        report.attempted += 1
        error = claim.error if claim.email is None else _send(transport, claim.email)
        if error is None:
            _mark_sent(session, claim, now)
            report.sent += 1
            continue
        status = _record_failure(session, claim, error, now, max_attempts)
        if status == MailStatus.FAILED:
            report.failed += 1
        elif status == MailStatus.PENDING:
            report.retrying += 1
        if isinstance(error, ServerUnavailable):
            break
    return report


def sleep(seconds: float) -> None:
    """Wait between rounds of the delivery loop (its own function so tests replace it
    instead of waiting)."""
    time.sleep(seconds)


@dataclass(frozen=True)
class _Claim:
    id: int
    token: str
    attempts: int
    email: EmailMessage | None
    # Set when the row could not be turned into an email.
    error: Exception | None


def _due(now: datetime, claim_timeout: timedelta) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(OutboxMessage.status == MailStatus.PENDING, OutboxMessage.next_attempt_at <= now),
        _abandoned(now, claim_timeout),
    )


def _abandoned(now: datetime, claim_timeout: timedelta) -> sa.ColumnElement[bool]:
    return sa.and_(
        OutboxMessage.status == MailStatus.SENDING,
        OutboxMessage.claimed_at <= now - claim_timeout,
    )


def _give_up_abandoned(
    session: SessionLike, now: datetime, max_attempts: int, claim_timeout: timedelta
) -> None:
    session.execute(
        sa.update(OutboxMessage)
        .where(_abandoned(now, claim_timeout), OutboxMessage.attempts >= max_attempts)
        .values(status=MailStatus.FAILED, claim_token=None, last_error=ABANDONED_ERROR)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _claim_next(
    session: SessionLike, now: datetime, claim_timeout: timedelta, sender: str
) -> _Claim | None:
    due = _due(now, claim_timeout)
    while True:
        candidate = session.scalar(
            sa.select(OutboxMessage.id)
            .where(due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
        )
        if candidate is None:
            session.commit()
            return None
        token = secrets.token_hex(16)
        claimed = session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == candidate, due)
            .values(
                status=MailStatus.SENDING,
                claimed_at=now,
                claim_token=token,
                attempts=OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if rows_changed(claimed) == 1:
            break
        # Another worker claimed it between our read and our update: look again.
    message = session.execute(
        sa.select(OutboxMessage)
        .where(OutboxMessage.id == candidate)
        .execution_options(populate_existing=True)
    ).scalar_one()
    email: EmailMessage | None = None
    error: Exception | None = None
    try:
        email = build_email(message, sender)
    except Exception as problem:  # a malformed row is recorded on the row, not fatal to the worker
        error = problem
    claim = _Claim(candidate, token, message.attempts, email, error)
    # The claim is durable before the server hears of the message.
    session.commit()
    return claim


def _send(transport: Transport, email: EmailMessage) -> Exception | None:
    try:
        transport.send(email)
    except Exception as error:  # every failure is recorded on the message; the worker goes on
        return error
    return None


def _mark_sent(session: SessionLike, claim: _Claim, now: datetime) -> None:
    updated = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == claim.id, OutboxMessage.claim_token == claim.token)
        .values(status=MailStatus.SENT, sent_at=now, claim_token=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if rows_changed(updated) != 1:
        log.warning("outbox message %s was sent after another worker took over its claim", claim.id)


def _record_failure(
    session: SessionLike, claim: _Claim, error: Exception, now: datetime, max_attempts: int
) -> MailStatus | None:
    text = _describe(error)
    if isinstance(error, MessageRejected) or claim.attempts >= max_attempts:
        status = MailStatus.FAILED
        values: dict[str, Any] = {"status": status}
    else:
        status = MailStatus.PENDING
        values = {"status": status, "next_attempt_at": now + retry_delay(claim.attempts)}
    updated = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == claim.id, OutboxMessage.claim_token == claim.token)
        .values(claim_token=None, last_error=text, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if rows_changed(updated) != 1:
        log.warning("outbox message %s failed after another worker took over its claim", claim.id)
        return None
    log.warning("outbox message %s attempt %s: %s", claim.id, claim.attempts, text)
    return status


def _describe(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    if isinstance(error, MessageRejected | ServerUnavailable):
        return text[:2000]
    return f"{error.__class__.__name__}: {text}"[:2000]


def _parameter(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name.strip().lower(), value.strip().strip('"')


__all__ = [
    "CLAIM_TIMEOUT",
    "DeliveryReport",
    "DevMailboxTransport",
    "MessageRejected",
    "SMTPTransport",
    "ServerUnavailable",
    "Transport",
    "build_email",
    "deliver_due",
    "retry_delay",
    "sleep",
    "transport_from_config",
]
