"""Delivery of the email outbox over SMTP, with claims, retries and backoff.

A worker claims one message at a time with a conditional UPDATE and commits the claim before
it talks to the server, so two workers never hold the same message. The server's acceptance
is recorded as soon as DATA is answered, before the connection is closed, and that record is
retried through a database outage rather than dropped. The result is recorded only if the
claim is still the worker's own. A claim left behind by a worker killed with SIGKILL is taken
over after CLAIM_TIMEOUT (SIGTERM lets the worker finish its message first). A message the
server accepted in the instant before such a kill reaches the recipient twice, which is why
the Message-ID is fixed when the message is written: mail clients show copies with the same
Message-ID as one message.

An unreachable server is an outage of the server, not a fault of the message that happened to
be first: the message is released without counting the attempt and the worker waits, with
backoff, before it tries the server again; then everything due goes out at once.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import random
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
MAX_SMTP_TIMEOUT = 15


def claim_timeout_for(smtp_timeout: float) -> timedelta:
    """How old a claim must be before another worker takes the message over: an attempt is
    at most ten exchanges with the server (connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT,
    DATA, the content, and a reconnection's), each cut off after the SMTP timeout, so a claim
    older than twelve of them belongs to a worker that is gone."""
    return timedelta(seconds=12 * smtp_timeout)


CLAIM_TIMEOUT = claim_timeout_for(MAX_SMTP_TIMEOUT)  # three minutes
TLS_MODES = ("starttls", "ssl", "none")
# The worker's waits after consecutive failed rounds (database or server down): 2, 4, 8 …
# seconds with jitter, at most a minute, so that it is back within a minute of the outage.
OUTAGE_FIRST_WAIT = 2.0
OUTAGE_MAX_WAIT = 60.0
# After SIGTERM, how long the worker keeps trying to record a delivery the server accepted.
RECORD_GRACE_SECONDS = 30.0
ABANDONED_ERROR = "The worker stopped during the last attempt; giving up."


class MessageRejected(Exception):
    """The server refused this message for good (a 5xx reply to its recipient or content)."""


class ServerUnavailable(Exception):
    """The server could not be reached; the other messages would fail the same way now."""


class Transport(Protocol):
    """Hands messages to the outside world, or raises; `close` ends a round."""

    @property
    def sender(self) -> str: ...

    def send(self, email: EmailMessage) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SMTPTransport:
    """Delivers over SMTP, on one connection for a round of messages (one per thread).

    `send` returns as soon as the server has accepted the message's content, leaving the
    connection open, so that the acceptance is recorded before anything else (QUIT, the next
    message) can fail; `close` says goodbye at the end of the round."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    tls: str = "starttls"
    timeout: float = MAX_SMTP_TIMEOUT
    _connections: threading.local = field(
        default_factory=threading.local, init=False, repr=False, compare=False
    )

    @property
    def _client(self) -> smtplib.SMTP | None:
        return getattr(self._connections, "client", None)

    def _keep(self, client: smtplib.SMTP | None) -> None:
        self._connections.client = client

    def send(self, email: EmailMessage) -> None:
        """Send one message; raise MessageRejected or ServerUnavailable where they apply."""
        reused = self._client is not None
        client = self._client or self._open()
        try:
            client.send_message(email)
        except smtplib.SMTPServerDisconnected as error:
            self._drop()
            if not reused:
                raise ServerUnavailable(_describe(error)) from error
            # The server closed a connection we kept (an idle or a per-connection limit):
            # nothing of this message was accepted, so it goes on a new one.
            self._retry_on_new_connection(email)
        except smtplib.SMTPRecipientsRefused as error:
            if all(code >= 500 for code, _ in error.recipients.values()):
                raise MessageRejected(_describe(error)) from error
            self._drop()
            raise
        except smtplib.SMTPDataError as error:
            if error.smtp_code >= 500:
                raise MessageRejected(_describe(error)) from error
            self._drop()
            raise
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        """End the round: QUIT and close the connection, whatever the server answers."""
        client = self._client
        self._keep(None)
        if client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def _retry_on_new_connection(self, email: EmailMessage) -> None:
        client = self._open()
        try:
            client.send_message(email)
        except smtplib.SMTPServerDisconnected as error:
            self._drop()
            raise ServerUnavailable(_describe(error)) from error
        except BaseException:
            self._drop()
            raise

    def _open(self) -> smtplib.SMTP:
        """Connect, greet, secure and sign in; every failure here is the server's, not the
        message's (refused, timed out, unknown host, no greeting, TLS or login failed)."""
        client: smtplib.SMTP | None = None
        try:
            if self.tls == "ssl":
                client = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password)
        except (OSError, smtplib.SMTPException) as error:
            if client is not None:
                client.close()
            raise ServerUnavailable(_describe(error)) from error
        self._keep(client)
        return client

    def _drop(self) -> None:
        """Forget a connection in an unknown state without a word to the server."""
        client = self._client
        self._keep(None)
        if client is not None:
            client.close()


@dataclass(frozen=True)
class DevMailboxTransport:
    """Delivers nothing: the development mailbox page shows the outbox instead."""

    sender: str

    def send(self, email: EmailMessage) -> None:
        """Accept the message; it stays readable at /dev/mailbox."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class DeliveryReport:
    """What one round of delivery did; `server_down` says the server could not be reached
    (the message tried is released, its attempt not counted)."""

    attempted: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    server_down: bool = False
    server_error: str = field(default="", compare=False)


def claim_timeout_of(transport: Transport) -> timedelta:
    """The claim timeout that fits the transport's SMTP timeout."""
    if isinstance(transport, SMTPTransport):
        return claim_timeout_for(transport.timeout)
    return CLAIM_TIMEOUT


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
    timeout = float(config.get("MAIL_SMTP_TIMEOUT", MAX_SMTP_TIMEOUT))
    if not 1 <= timeout <= MAX_SMTP_TIMEOUT:
        # A longer wait could outlast the claim (CLAIM_TIMEOUT), and the message go twice.
        raise ConfigError(
            f"MAIL_SMTP_TIMEOUT must be from 1 to {MAX_SMTP_TIMEOUT} seconds, not {timeout:g}"
        )
    return SMTPTransport(
        host=host,
        port=int(config["MAIL_SMTP_PORT"]),
        sender=sender,
        username=config.get("MAIL_SMTP_USER", ""),
        password=config.get("MAIL_SMTP_PASSWORD", ""),
        tls=tls,
        timeout=timeout,
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
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Deliver up to batch_size due messages, committing each claim and each outcome; stop
    before the next message once `stop` is set (the current one is finished or released)."""
    report = DeliveryReport()
    _give_up_abandoned(session, now, max_attempts, claim_timeout)
    try:
        while report.attempted < batch_size and not (stop and stop.is_set()):
            claim = _claim_next(session, now, claim_timeout, transport.sender)
            if claim is None:
                break
            if stop is not None and stop.is_set():
                _release(session, claim, None)
                break
            report.attempted += 1
            error = claim.error if claim.email is None else _send(transport, claim.email)
            if error is None:
                _record_sent(session, claim, now, stop)
                report.sent += 1
                continue
            if isinstance(error, ServerUnavailable):
                _release(session, claim, error)
                report.attempted -= 1
                report.server_down, report.server_error = True, _describe(error)
                break
            status = _record_failure(session, claim, error, now, max_attempts)
            if status == MailStatus.FAILED:
                report.failed += 1
            elif status == MailStatus.PENDING:
                report.retrying += 1
    finally:
        transport.close()
    return report


def run_worker(
    session: SessionLike,
    transport: Transport,
    now: Callable[[], datetime],
    max_attempts: int,
    interval: float,
    stop: threading.Event,
    on_round: Callable[[DeliveryReport], None] = lambda report: None,
    claim_timeout: timedelta = CLAIM_TIMEOUT,
) -> None:
    """Deliver in rounds until `stop` is set, surviving any outage of the database or the
    server: a failed round is logged and followed by a wait that doubles up to a minute."""
    outage: str | None = None  # what is down: "database", "server" or "round"
    failures = 0
    while not stop.is_set():
        down: tuple[str, str] | None = None
        try:
            report = deliver_due(
                session, transport, now(), max_attempts, claim_timeout=claim_timeout, stop=stop
            )
        except sa.exc.SQLAlchemyError as error:
            _forget_transaction(session)
            down = ("database", f"the database is unavailable ({_first_line(error)})")
        except Exception as error:  # the worker must outlive any single failure
            log.exception("mail round failed")
            _forget_transaction(session)
            down = ("round", f"the round failed ({_first_line(error)})")
        else:
            on_round(report)
            if report.server_down:
                down = ("server", f"the SMTP server is unavailable ({report.server_error})")
        if down is None:
            if outage is not None:
                log.warning("mail delivery resumed after %s failed rounds (%s)", failures, outage)
            outage, failures = None, 0
            wait = interval
        else:
            # Once per outage, not once per round: a log that repeats every few seconds
            # for an hour hides everything else in it.
            if down[0] != outage:
                log.error("mail delivery paused: %s; trying again with backoff", down[1])
            outage, failures = down[0], failures + 1
            wait = outage_wait(failures)
        if stop.is_set() or sleep(wait, stop):
            break


def outage_wait(failures: int) -> float:
    """Seconds to wait after this many failed rounds in a row: doubling from 2 s to a
    minute, with jitter so that several workers don't knock at the same moment."""
    base = min(OUTAGE_FIRST_WAIT * 2 ** min(failures - 1, 10), OUTAGE_MAX_WAIT)
    return base * random.uniform(0.75, 1.0)


def sleep(seconds: float, stop: threading.Event) -> bool:
    """Wait between rounds, cut short by `stop`; True when stopped (its own function so
    tests replace it instead of waiting)."""
    return stop.wait(seconds)


def _forget_transaction(session: SessionLike) -> None:
    """Drop the failed transaction and its connection (a dead one must not be reused)."""
    with contextlib.suppress(Exception):
        session.rollback()
    with contextlib.suppress(Exception):
        session.close()


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [error.__class__.__name__])[0][:300]


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
        sa.and_(
            OutboxMessage.status == MailStatus.PENDING,
            sa.or_(
                OutboxMessage.next_attempt_at <= now,
                # The last attempt is later than now: the clock was ahead then (a forward step
                # since undone), so its retry time is too; don't make the message wait for it.
                OutboxMessage.claimed_at > now,
            ),
        ),
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


def _record_sent(
    session: SessionLike, claim: _Claim, now: datetime, stop: threading.Event | None
) -> None:
    """Record the server's acceptance, retrying through a database outage: a delivery that
    is not recorded is delivered again once its claim times out."""
    failures = 0
    deadline: float | None = None
    while True:
        try:
            _mark_sent(session, claim, now)
            return
        except sa.exc.SQLAlchemyError as error:
            _forget_transaction(session)
            failures += 1
            if stop is not None and stop.is_set() and deadline is None:
                deadline = time.monotonic() + RECORD_GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                log.error(
                    "outbox message %s was delivered but could not be recorded; it will be "
                    "delivered again after the claim timeout: %s",
                    claim.id,
                    _first_line(error),
                )
                raise
            log.warning(
                "outbox message %s was delivered; recording it failed (%s), trying again",
                claim.id,
                _first_line(error),
            )
            # A plain wait, not the stop event's: after SIGTERM the delivery must still be
            # recorded, for RECORD_GRACE_SECONDS, before the worker gives up on it.
            time.sleep(min(0.5 * 2 ** min(failures - 1, 4), 5.0))


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


def _release(session: SessionLike, claim: _Claim, error: Exception | None) -> None:
    """Give a claimed message back untried: the attempt is not counted, the time unchanged."""
    values: dict[str, Any] = {
        "status": MailStatus.PENDING,
        "claim_token": None,
        "attempts": OutboxMessage.attempts - 1,
    }
    if error is not None:
        values["last_error"] = _describe(error)
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == claim.id, OutboxMessage.claim_token == claim.token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


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
    "claim_timeout_for",
    "claim_timeout_of",
    "deliver_due",
    "outage_wait",
    "retry_delay",
    "run_worker",
    "sleep",
    "transport_from_config",
]
