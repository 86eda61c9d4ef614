"""The mail worker delivers every outbox message once, retries while the server is down, and
never deletes a message, even one it gives up on."""

from __future__ import annotations

import itertools
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consular.config import ConfigError
from consular.extensions import db
from consular.models import MailStatus, OutboxMessage
from consular.services import mail, notifications
from consular.services.mail import DeliveryReport, Transport
from tests.conftest import Clock
from tests.smtp import SMTPServer

MAX_ATTEMPTS = 8

ICS = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//consular//tests//EN\r\n"
    "METHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:TAA-1234@consular.test\r\n"
    "DTSTART:20261130T003000Z\r\n"
    "SUMMARY:Consular appointment\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
CALENDAR = {
    "filename": "appointment.ics",
    "content_type": "text/calendar; method=REQUEST",
    "content": ICS,
}


@pytest.fixture
def make_message(app: Flask, clock: Clock) -> Callable[..., int]:
    """Write a message to the outbox and commit, as a booking would; return its id."""
    counter = itertools.count(1)

    def factory(**fields: Any) -> int:
        number = next(counter)
        values: dict[str, Any] = {
            "kind": "code",
            "recipient": f"citizen{number}@example.com",
            "subject": f"Your confirmation code: {number:06d}",
            "text_body": f"Your code is {number:06d}.\n",
            "html_body": f"<p>Your code is <strong>{number:06d}</strong>.</p>\n",
            "now": clock(),
        }
        values.update(fields)
        message_id = notifications.queue_email(db.session, **values).id
        # Committing ends the transaction (on SQLite, its write lock) that other workers wait for.
        db.session.commit()
        return message_id

    return factory


@pytest.fixture
def smtp(app: Flask, smtp_server: SMTPServer) -> Transport:
    """The transport the app builds from its settings, pointed at the loopback server."""
    app.config.update(smtp_server.settings())
    return mail.transport_from_config(app.config)


def deliver(
    transport: Transport, clock: Clock, max_attempts: int = MAX_ATTEMPTS, **options: Any
) -> DeliveryReport:
    return mail.deliver_due(db.session, transport, clock(), max_attempts, **options)


def stored(message_id: int) -> OutboxMessage:
    """The message as the database has it now, detached so that reading it holds no lock."""
    message = db.session.execute(
        sa.select(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    db.session.expunge(message)
    db.session.commit()
    return message


def in_other_worker(app: Flask, work: Callable[[], DeliveryReport]) -> DeliveryReport:
    """Run work in another thread with its own app context, so its own session."""

    def run() -> DeliveryReport:
        with app.app_context():
            return work()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def message_ids(server: SMTPServer) -> list[str]:
    return [str(received.message["Message-ID"]) for received in server.received]


# Delivery


def test_delivers_text_html_and_calendar_to_the_smtp_server(
    app: Flask, clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message(
        recipient="aigerim@example.com",
        subject="Appointment confirmed: TAA-1234",
        text_body="Your visit is on Monday at 09:30.\n",
        html_body="<p>Your visit is on <b>Monday</b> at 09:30.</p>\n",
        attachments=[CALENDAR],
    )

    report = deliver(smtp, clock)

    assert report == DeliveryReport(attempted=1, sent=1, retrying=0, failed=0)
    row = stored(message_id)
    assert row.status == MailStatus.SENT
    assert row.sent_at == clock()
    assert row.attempts == 1
    assert row.claim_token is None
    assert row.last_error is None

    [received] = smtp_server.received
    assert received.mail_from == "no-reply@consular.localhost"
    assert received.rcpt_tos == ["aigerim@example.com"]
    email = received.message
    assert email["To"] == "aigerim@example.com"
    assert email["From"] == "Consular appointments <no-reply@consular.localhost>"
    assert email["Subject"] == "Appointment confirmed: TAA-1234"
    assert email["Message-ID"] == row.message_id
    assert email["Date"] == "Sun, 29 Nov 2026 03:00:00 +0000"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email.get_content_type() == "multipart/mixed"
    text = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().splitlines() == ["Your visit is on Monday at 09:30."]
    assert html.get_content().splitlines() == ["<p>Your visit is on <b>Monday</b> at 09:30.</p>"]
    [calendar] = email.iter_attachments()
    assert isinstance(calendar, EmailMessage)
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_filename() == "appointment.ics"
    assert calendar.get_content().splitlines() == ICS.splitlines()


def test_a_message_without_html_is_plain_text(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    make_message(html_body=None, text_body="Only text.\n")

    deliver(smtp, clock)

    [received] = smtp_server.received
    assert received.message.get_content_type() == "text/plain"
    assert received.message.get_content().splitlines() == ["Only text."]


def test_without_smtp_messages_go_to_the_development_mailbox(
    app: Flask, client: FlaskClient, clock: Clock, make_message: Callable
) -> None:
    message_id = make_message(subject="Your confirmation code: 424242")
    transport = mail.transport_from_config(app.config)
    assert isinstance(transport, mail.DevMailboxTransport)

    report = deliver(transport, clock)

    assert report == DeliveryReport(attempted=1, sent=1)
    assert stored(message_id).status == MailStatus.SENT
    page = client.get("/dev/mailbox")
    assert page.status_code == 200
    assert "Your confirmation code: 424242" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"MAIL_SMTP_HOST": "smtp.example.com", "MAIL_SMTP_PORT": 465, "MAIL_SMTP_TLS": "SSL"},
            mail.SMTPTransport(
                host="smtp.example.com",
                port=465,
                sender="Consular appointments <no-reply@consular.localhost>",
                username="mailer",
                password="secret",
                tls="ssl",
                timeout=7,
            ),
        ),
        (
            {"MAIL_SMTP_HOST": "", "MAIL_DEV_MAILBOX": True},
            mail.DevMailboxTransport(sender="Consular appointments <no-reply@consular.localhost>"),
        ),
    ],
)
def test_transport_from_config(app: Flask, settings: dict[str, Any], expected: Transport) -> None:
    app.config.update(
        MAIL_SMTP_USER="mailer", MAIL_SMTP_PASSWORD="secret", MAIL_SMTP_TIMEOUT=7, **settings
    )

    assert mail.transport_from_config(app.config) == expected


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"MAIL_SMTP_HOST": "smtp.example.com", "MAIL_SMTP_TLS": "tls"}, "MAIL_SMTP_TLS"),
        ({"MAIL_SMTP_HOST": "", "MAIL_DEV_MAILBOX": False}, "no email would arrive"),
    ],
)
def test_transport_from_config_refuses_settings_that_lose_mail(
    app: Flask, settings: dict[str, Any], problem: str
) -> None:
    app.config.update(settings)

    with pytest.raises(ConfigError, match=problem):
        mail.transport_from_config(app.config)


# Retries


def test_an_unreachable_server_is_an_outage_not_a_failed_attempt_of_the_message(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message()
    due = stored(message_id).next_attempt_at
    smtp_server.stop()

    report = deliver(smtp, clock)

    assert report == DeliveryReport(server_down=True)
    row = stored(message_id)
    assert row.status == MailStatus.PENDING
    assert row.attempts == 0
    assert row.last_error is not None and "Connection refused" in row.last_error
    assert row.next_attempt_at == due
    assert row.claim_token is None

    # As soon as the server is back, the message goes: it never waited on a backoff of its own.
    smtp_server.start()
    assert deliver(smtp, clock) == DeliveryReport(attempted=1, sent=1)
    row = stored(message_id)
    assert row.status == MailStatus.SENT
    assert row.attempts == 1
    assert row.last_error is None
    assert message_ids(smtp_server) == [row.message_id]


def test_a_message_refused_for_now_is_retried_after_its_backoff(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message(recipient="busy@example.com")
    smtp_server.reply_to("busy@example.com", "450 4.2.1 Mailbox busy")

    assert deliver(smtp, clock) == DeliveryReport(attempted=1, retrying=1)
    row = stored(message_id)
    assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
    assert row.next_attempt_at == clock() + timedelta(minutes=1)
    assert row.last_error is not None and "Mailbox busy" in row.last_error

    smtp_server.handler.replies.clear()
    assert deliver(smtp, clock) == DeliveryReport()
    clock.advance(minutes=1)
    assert deliver(smtp, clock) == DeliveryReport(attempted=1, sent=1)
    assert message_ids(smtp_server) == [stored(message_id).message_id]


def test_a_retry_time_set_while_the_clock_was_ahead_is_not_waited_for(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message(recipient="busy@example.com")
    smtp_server.reply_to("busy@example.com", "450 4.2.1 Mailbox busy")
    clock.advance(minutes=15)  # the system clock steps forward…
    assert deliver(smtp, clock) == DeliveryReport(attempted=1, retrying=1)
    assert stored(message_id).next_attempt_at == clock() + timedelta(minutes=1)

    clock.advance(minutes=-14)  # …and is set right again a minute later
    smtp_server.handler.replies.clear()

    assert deliver(smtp, clock) == DeliveryReport(attempted=1, sent=1)
    assert message_ids(smtp_server) == [stored(message_id).message_id]


@pytest.mark.parametrize(
    ("attempts", "minutes"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32), (7, 60), (8, 60), (500, 60)],
)
def test_the_wait_doubles_after_each_failure_up_to_an_hour(attempts: int, minutes: int) -> None:
    assert mail.retry_delay(attempts) == timedelta(minutes=minutes)


def test_after_max_attempts_a_message_is_failed_and_kept(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message(recipient="busy@example.com")
    smtp_server.reply_to("busy@example.com", "451 4.3.0 Try again later")

    for attempt, wait in ((1, 1), (2, 2)):
        assert deliver(smtp, clock, max_attempts=3) == DeliveryReport(attempted=1, retrying=1)
        row = stored(message_id)
        assert (row.status, row.attempts) == (MailStatus.PENDING, attempt)
        assert row.next_attempt_at == clock() + timedelta(minutes=wait)
        clock.advance(minutes=wait)

    assert deliver(smtp, clock, max_attempts=3) == DeliveryReport(attempted=1, failed=1)
    row = stored(message_id)
    assert row.status == MailStatus.FAILED
    assert row.attempts == 3
    assert row.last_error is not None and "Try again later" in row.last_error

    smtp_server.handler.replies.clear()
    clock.advance(days=1)
    assert deliver(smtp, clock, max_attempts=3) == DeliveryReport()
    assert stored(message_id).status == MailStatus.FAILED
    assert smtp_server.received == []


def test_an_unreachable_server_ends_the_round_without_touching_the_other_messages(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    first, second, third = make_message(), make_message(), make_message()
    smtp_server.stop()

    assert deliver(smtp, clock) == DeliveryReport(server_down=True)

    assert [stored(m).attempts for m in (first, second, third)] == [0, 0, 0]
    assert {stored(m).status for m in (first, second, third)} == {MailStatus.PENDING}
    assert stored(first).last_error is not None
    assert stored(second).last_error is None

    smtp_server.start()
    assert deliver(smtp, clock) == DeliveryReport(attempted=3, sent=3)


@pytest.mark.parametrize(
    ("reply", "status", "report"),
    [
        (
            "550 5.1.1 No such user",
            MailStatus.FAILED,
            DeliveryReport(attempted=2, sent=1, failed=1),
        ),
        (
            "450 4.2.1 Mailbox busy",
            MailStatus.PENDING,
            DeliveryReport(attempted=2, sent=1, retrying=1),
        ),
    ],
)
def test_a_refused_recipient_fails_for_good_only_on_a_permanent_reply(
    clock: Clock,
    smtp: Transport,
    smtp_server: SMTPServer,
    make_message: Callable,
    reply: str,
    status: MailStatus,
    report: DeliveryReport,
) -> None:
    smtp_server.reply_to("gone@example.com", reply)
    refused = make_message(recipient="gone@example.com")
    fine = make_message(recipient="here@example.com")

    assert deliver(smtp, clock) == report

    row = stored(refused)
    assert (row.status, row.attempts) == (status, 1)
    assert row.last_error is not None and reply.split()[0] in row.last_error
    assert message_ids(smtp_server) == [stored(fine).message_id]


def test_a_message_that_cannot_be_built_is_retried_and_the_others_still_go(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    broken = make_message(attachments=[{"filename": "x.ics", "content_type": "text/calendar"}])
    fine = make_message()

    assert deliver(smtp, clock) == DeliveryReport(attempted=2, sent=1, retrying=1)

    row = stored(broken)
    assert (row.status, row.last_error) == (MailStatus.PENDING, "KeyError: 'content'")
    assert message_ids(smtp_server) == [stored(fine).message_id]


# Never twice


def test_running_the_worker_again_sends_nothing_again(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    ids = [make_message() for _ in range(3)]

    assert deliver(smtp, clock) == DeliveryReport(attempted=3, sent=3)
    assert deliver(smtp, clock) == DeliveryReport()
    clock.advance(days=1)
    assert deliver(smtp, clock) == DeliveryReport()

    assert sorted(message_ids(smtp_server)) == sorted(stored(m).message_id for m in ids)


def test_a_round_delivers_at_most_a_batch(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    for _ in range(3):
        make_message()

    assert deliver(smtp, clock, batch_size=2) == DeliveryReport(attempted=2, sent=2)
    assert deliver(smtp, clock, batch_size=2) == DeliveryReport(attempted=1, sent=1)


def test_two_workers_racing_deliver_each_message_once(
    app: Flask, clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    ids = [make_message() for _ in range(20)]
    start = threading.Barrier(2)
    now = clock()

    def worker() -> DeliveryReport:
        with app.app_context():
            start.wait(timeout=10)
            return mail.deliver_due(db.session, smtp, now, MAX_ATTEMPTS)

    with ThreadPoolExecutor(2) as pool:
        reports = [future.result() for future in [pool.submit(worker) for _ in range(2)]]

    assert sum(report.sent for report in reports) == 20
    assert sum(report.attempted for report in reports) == 20
    assert sorted(message_ids(smtp_server)) == sorted(stored(m).message_id for m in ids)
    assert {stored(m).attempts for m in ids} == {1}


class _DuringSend:
    """A transport that runs something else while its first message is with the server."""

    def __init__(self, inner: Transport, during: Callable[[], Any]) -> None:
        self.inner = inner
        self.sender = inner.sender
        self.during: Callable[[], Any] | None = during

    def send(self, email: EmailMessage) -> None:
        if self.during is not None:
            during, self.during = self.during, None
            during()
        self.inner.send(email)

    def close(self) -> None:
        self.inner.close()


def test_a_message_being_sent_is_not_taken_by_another_worker(
    app: Flask, clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    ids = [make_message() for _ in range(3)]
    others: list[DeliveryReport] = []
    now = clock()

    def other_worker() -> None:
        others.append(
            in_other_worker(app, lambda: mail.deliver_due(db.session, smtp, now, MAX_ATTEMPTS))
        )

    report = deliver(_DuringSend(smtp, other_worker), clock)

    assert report == DeliveryReport(attempted=1, sent=1)
    assert others == [DeliveryReport(attempted=2, sent=2)]
    assert sorted(message_ids(smtp_server)) == sorted(stored(m).message_id for m in ids)


# Crashed workers


class WorkerKilled(BaseException):
    """The worker process died in the middle of a delivery."""


class _Crashes:
    sender = "Consular appointments <no-reply@consular.localhost>"

    def send(self, email: EmailMessage) -> None:
        raise WorkerKilled

    def close(self) -> None:
        pass


def test_a_claim_left_by_a_crashed_worker_is_taken_over_after_the_timeout(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message()
    with pytest.raises(WorkerKilled):
        deliver(_Crashes(), clock)
    row = stored(message_id)
    assert (row.status, row.attempts, row.claimed_at) == (MailStatus.SENDING, 1, clock())

    assert deliver(smtp, clock) == DeliveryReport()
    clock.advance(seconds=mail.CLAIM_TIMEOUT.total_seconds() - 1)
    assert deliver(smtp, clock) == DeliveryReport()
    assert smtp_server.received == []

    clock.advance(seconds=1)
    assert deliver(smtp, clock) == DeliveryReport(attempted=1, sent=1)
    row = stored(message_id)
    assert (row.status, row.attempts, row.claim_token) == (MailStatus.SENT, 2, None)
    assert message_ids(smtp_server) == [row.message_id]


def test_a_crash_during_the_last_attempt_is_a_failure(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message()
    with pytest.raises(WorkerKilled):
        deliver(_Crashes(), clock, max_attempts=1)

    clock.advance(seconds=mail.CLAIM_TIMEOUT.total_seconds())
    assert deliver(smtp, clock, max_attempts=1) == DeliveryReport()

    row = stored(message_id)
    assert (row.status, row.last_error) == (MailStatus.FAILED, mail.ABANDONED_ERROR)
    assert smtp_server.received == []


def test_a_late_failure_from_an_overtaken_claim_does_not_undo_the_delivery(
    app: Flask, clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message()
    later = clock() + mail.CLAIM_TIMEOUT + timedelta(seconds=1)
    others: list[DeliveryReport] = []

    class SlowThenBroken:
        sender = smtp.sender

        def send(self, email: EmailMessage) -> None:
            # Stuck past the claim timeout: another worker takes the message over and sends it.
            others.append(
                in_other_worker(
                    app, lambda: mail.deliver_due(db.session, smtp, later, MAX_ATTEMPTS)
                )
            )
            raise ConnectionResetError("connection lost")

        def close(self) -> None:
            pass

    report = deliver(SlowThenBroken(), clock)

    assert report == DeliveryReport(attempted=1)
    assert others == [DeliveryReport(attempted=1, sent=1)]
    row = stored(message_id)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == (
        MailStatus.SENT,
        2,
        later,
        None,
    )
    assert message_ids(smtp_server) == [row.message_id]


# The command


def test_flask_mail_send_delivers_over_smtp(
    app: Flask, smtp_server: SMTPServer, make_message: Callable
) -> None:
    app.config.update(smtp_server.settings())
    message_id = make_message(attachments=[CALENDAR])
    runner = app.test_cli_runner()

    result = runner.invoke(args=["mail", "send"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "1 sent, 0 to retry, 0 failed\n"
    assert message_ids(smtp_server) == [stored(message_id).message_id]
    assert runner.invoke(args=["mail", "send"]).stdout == ""


def test_flask_mail_send_loop_delivers_what_arrives_between_rounds(
    app: Flask, smtp_server: SMTPServer, make_message: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config.update(smtp_server.settings())
    first = make_message()
    waits: list[float] = []
    later: list[int] = []

    def sleep(seconds: float, stop: threading.Event) -> bool:
        waits.append(seconds)
        if later:
            return True
        later.append(make_message())
        return False

    monkeypatch.setattr(mail, "sleep", sleep)

    result = app.test_cli_runner().invoke(args=["mail", "send", "--loop", "--interval", "2"])

    assert result.exit_code == 0, result.output
    assert waits == [2.0, 2.0]
    assert result.stdout == "1 sent, 0 to retry, 0 failed\n" * 2 + "Mail worker stopped.\n"
    assert message_ids(smtp_server) == [stored(first).message_id, stored(later[0]).message_id]


def test_the_loop_outlives_a_database_outage_and_backs_off(
    app: Flask,
    smtp_server: SMTPServer,
    make_message: Callable,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app.config.update(smtp_server.settings())
    message_id = make_message()
    real_deliver = mail.deliver_due
    outage = iter([True, True, True, False])
    waits: list[float] = []

    def deliver_during_outage(*args: Any, **kwargs: Any) -> DeliveryReport:
        if next(outage, False):
            raise sa.exc.OperationalError(
                "SELECT 1", {}, Exception("the database system is shutting down")
            )
        return real_deliver(*args, **kwargs)

    def sleep(seconds: float, stop: threading.Event) -> bool:
        waits.append(seconds)
        return len(waits) == 4

    monkeypatch.setattr(mail, "deliver_due", deliver_during_outage)
    monkeypatch.setattr(mail, "sleep", sleep)

    with caplog.at_level("WARNING", logger="consular.services.mail"):
        result = app.test_cli_runner().invoke(args=["mail", "send", "--loop", "--interval", "3"])

    assert result.exit_code == 0, result.output
    # Three failed rounds wait 2, 4 and 8 seconds (less a jitter of up to a quarter), then the
    # round that works delivers and the usual interval follows.
    assert [1.5 <= waits[0] <= 2, 3 <= waits[1] <= 4, 6 <= waits[2] <= 8] == [True] * 3
    assert waits[3] == 3.0
    assert stored(message_id).status == MailStatus.SENT
    paused = [r for r in caplog.records if "paused" in r.getMessage()]
    assert len(paused) == 1 and "shutting down" in paused[0].getMessage()
    assert any("resumed after 3 failed rounds (database)" in r.getMessage() for r in caplog.records)


def test_the_loop_waits_with_backoff_while_the_smtp_server_is_down(
    app: Flask, smtp_server: SMTPServer, make_message: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config.update(smtp_server.settings())
    ids = [make_message() for _ in range(3)]
    smtp_server.stop()
    waits: list[float] = []

    def sleep(seconds: float, stop: threading.Event) -> bool:
        waits.append(seconds)
        if len(waits) == 2:
            smtp_server.start()
        return len(waits) == 3

    monkeypatch.setattr(mail, "sleep", sleep)

    result = app.test_cli_runner().invoke(args=["mail", "send", "--loop", "--interval", "1"])

    assert result.exit_code == 0, result.output
    assert waits[0] > 1 and waits[1] > waits[0] and waits[2] == 1.0
    assert {stored(m).status for m in ids} == {MailStatus.SENT}
    assert {stored(m).attempts for m in ids} == {1}
    assert sorted(message_ids(smtp_server)) == sorted(stored(m).message_id for m in ids)


@pytest.mark.parametrize("failures", range(1, 14))
def test_outage_waits_double_from_two_seconds_to_a_minute(failures: int) -> None:
    base = min(2.0 * 2 ** (failures - 1), 60.0)
    assert 0.75 * base <= mail.outage_wait(failures) <= base


def test_sigterm_lets_the_worker_finish_the_message_with_the_server_then_stop(
    app: Flask, smtp_server: SMTPServer, make_message: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """systemd stops the worker with SIGTERM: the message in hand is delivered and recorded
    once, the next one is left pending for the next worker, and the process exits cleanly."""
    app.config.update(smtp_server.settings())
    first, second = make_message(), make_message()
    monkeypatch.setattr(mail, "sleep", lambda seconds, stop: pytest.fail("no round after stop"))

    async def terminate_during_data(server: Any, session: Any, envelope: Any) -> str:
        os.kill(os.getpid(), signal.SIGTERM)  # what `systemctl stop` does, mid-DATA
        return await accept(server, session, envelope)

    accept = smtp_server.handler.handle_DATA
    monkeypatch.setattr(smtp_server.handler, "handle_DATA", terminate_during_data)

    result = app.test_cli_runner().invoke(args=["mail", "send", "--loop"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "1 sent, 0 to retry, 0 failed\nMail worker stopped.\n"
    assert (stored(first).status, stored(first).claim_token) == (MailStatus.SENT, None)
    assert (stored(second).status, stored(second).attempts) == (MailStatus.PENDING, 0)
    assert message_ids(smtp_server) == [stored(first).message_id]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


class _QuitBreaks:
    """The server accepts the message; then the worker dies before QUIT is answered."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sender = inner.sender

    def send(self, email: EmailMessage) -> None:
        self.inner.send(email)

    def close(self) -> None:
        raise WorkerKilled


def test_the_acceptance_is_recorded_before_the_connection_is_closed(
    clock: Clock, smtp: Transport, smtp_server: SMTPServer, make_message: Callable
) -> None:
    message_id = make_message()

    with pytest.raises(WorkerKilled):
        deliver(_QuitBreaks(smtp), clock)

    row = stored(message_id)
    assert (row.status, row.claim_token) == (MailStatus.SENT, None)
    clock.advance(seconds=mail.CLAIM_TIMEOUT.total_seconds() + 1)
    assert deliver(smtp, clock) == DeliveryReport()
    assert message_ids(smtp_server) == [row.message_id]


def test_recording_a_delivery_is_retried_through_a_database_outage(
    clock: Clock,
    smtp: Transport,
    smtp_server: SMTPServer,
    make_message: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message_id = make_message()
    real_mark = mail._mark_sent
    failures = iter([True, True])

    def mark_while_the_database_restarts(*args: Any) -> None:
        if next(failures, False):
            raise sa.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
        real_mark(*args)

    monkeypatch.setattr(mail, "_mark_sent", mark_while_the_database_restarts)
    monkeypatch.setattr(mail.time, "sleep", lambda seconds: None)

    assert deliver(smtp, clock) == DeliveryReport(attempted=1, sent=1)

    assert stored(message_id).status == MailStatus.SENT
    assert message_ids(smtp_server) == [stored(message_id).message_id]


@pytest.mark.parametrize("smtp_timeout", [1, 5, mail.MAX_SMTP_TIMEOUT])
def test_a_claim_times_out_well_before_a_hold_of_ten_minutes_and_after_any_attempt(
    smtp_timeout: float,
) -> None:
    claim = mail.claim_timeout_for(smtp_timeout)
    assert claim <= timedelta(minutes=3) == mail.CLAIM_TIMEOUT
    # Ten exchanges with the server, each at its longest, still end before the claim does.
    assert timedelta(seconds=10 * smtp_timeout) < claim


@pytest.mark.parametrize("seconds", [0, 16, 60])
def test_an_smtp_timeout_that_could_outlast_a_claim_is_refused(app: Flask, seconds: int) -> None:
    app.config.update(MAIL_SMTP_HOST="smtp.example.com", MAIL_SMTP_TIMEOUT=seconds)
    with pytest.raises(ConfigError, match="MAIL_SMTP_TIMEOUT"):
        mail.transport_from_config(app.config)


def test_flask_mail_send_refuses_a_configuration_that_loses_mail(app: Flask) -> None:
    app.config.update(MAIL_SMTP_HOST="", MAIL_DEV_MAILBOX=False)

    result = app.test_cli_runner().invoke(args=["mail", "send"])

    assert result.exit_code == 1
    assert "MAIL_SMTP_HOST is not set" in result.output


def test_the_development_mailbox_answers_this_machine_only(client) -> None:
    assert client.get("/dev/mailbox", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    far = client.get("/dev/mailbox", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert far.status_code == 404


@pytest.mark.parametrize(("age", "taken_over"), [(59, False), (61, True)])
def test_the_command_takes_over_a_claim_after_twelve_smtp_timeouts(
    app: Flask,
    clock: Clock,
    smtp_server: SMTPServer,
    make_message: Callable,
    age: int,
    taken_over: bool,
) -> None:
    app.config.update(smtp_server.settings())  # MAIL_SMTP_TIMEOUT 5: claims last a minute
    message_id = make_message()
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            status=MailStatus.SENDING,
            attempts=1,
            claim_token="gone",
            claimed_at=clock() - timedelta(seconds=age),
        )
    )
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["mail", "send"])

    assert result.exit_code == 0, result.output
    assert (stored(message_id).status == MailStatus.SENT) is taken_over
    assert len(smtp_server.received) == int(taken_over)
