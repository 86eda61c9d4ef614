"""The outgoing-email page: the outbox's counts for administrators only, failed messages with
their errors (addresses masked), and sending them again, one or all, audited."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from consular.extensions import db
from consular.models import AuditEntry, MailStatus, OutboxMessage
from consular.services import mail, notifications
from consular.services.retention import ERASED
from tests.admin.conftest import sign_in
from tests.conftest import Clock
from tests.smtp import SMTPServer


def queue(clock: Clock, recipient: str, **fields: Any) -> int:
    message = notifications.queue_email(
        db.session,
        kind="confirmation",
        recipient=recipient,
        subject="Your appointment",
        text_body="See you.\n",
        html_body=None,
        now=clock(),
    )
    for name, value in fields.items():
        setattr(message, name, value)
    db.session.commit()
    return message.id


def status(message_id: int) -> tuple[MailStatus, int]:
    row = db.session.execute(
        sa.select(OutboxMessage.status, OutboxMessage.attempts).where(
            OutboxMessage.id == message_id
        )
    ).one()
    db.session.commit()
    return row.status, row.attempts


@pytest.fixture
def failed(clock: Clock, accounts) -> dict[str, int]:
    """Two messages failed after their last attempt, one erased by retention, one pending."""
    error = "SMTPRecipientsRefused: {'x': (452, b'4.2.2 Mailbox full')}"
    return {
        "full": queue(clock, "aliya@example.kz", status=MailStatus.FAILED, attempts=8,
                      last_error=error),
        "busy": queue(clock, "bota@example.kz", status=MailStatus.FAILED, attempts=8,
                      last_error="451 4.3.0 Try again later"),
        "erased": queue(clock, ERASED, status=MailStatus.FAILED, attempts=8, last_error=None),
        "pending": queue(clock, "chingiz@example.kz"),
    }  # fmt: skip


def test_only_administrators_see_the_outbox(client, accounts, failed) -> None:
    assert client.get("/admin/mail").status_code == 302
    sign_in(client, "manager.seoul@example.org")
    assert client.get("/admin/mail").status_code == 403
    assert client.post("/admin/mail/send-again").status_code == 403
    assert status(failed["full"]) == (MailStatus.FAILED, 8)


def test_the_page_counts_the_outbox_and_lists_failed_mail_masked(
    client, clock: Clock, accounts, failed
) -> None:
    sign_in(client, "admin@example.org")
    clock.advance(minutes=25)

    page = client.get("/admin/mail").get_data(as_text=True)

    assert "a•••@example.kz" in page and "b•••@example.kz" in page
    assert "aliya@" not in page and "chingiz" not in page
    assert "Mailbox full" in page and "Try again later" in page
    assert "3 failed emails" in page
    assert "25\u00a0minutes" in page or "25 minutes" in page  # the pending one is due since
    assert "check that the mail worker" in page
    # One "send again" button per failed message that still has an address, and one for all.
    assert page.count('/send-again"') == 3


def test_sending_one_failed_email_again_queues_it_with_fresh_attempts(
    app: Flask, client, clock: Clock, accounts, failed, smtp_server: SMTPServer
) -> None:
    sign_in(client, "admin@example.org")

    answer = client.post(f"/admin/mail/{failed['full']}/send-again", follow_redirects=True)

    assert "1 email is back in the queue" in answer.get_data(as_text=True)
    assert status(failed["full"]) == (MailStatus.PENDING, 0)
    assert status(failed["busy"]) == (MailStatus.FAILED, 8)
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "send_mail_again")
    ).one()
    assert (entry.entity, entry.entity_id, entry.after) == ("email", str(failed["full"]),
                                                            {"messages": 1})  # fmt: skip
    # The worker sends it in its next round.
    app.config.update(smtp_server.settings())
    report = mail.deliver_due(
        db.session, mail.transport_from_config(app.config), clock(), max_attempts=8
    )
    assert report.sent == 2  # it and the pending one
    assert status(failed["full"]) == (MailStatus.SENT, 1)

    # Pressed again (a second tab), nothing moves twice.
    again = client.post(f"/admin/mail/{failed['full']}/send-again", follow_redirects=True)
    assert "no longer failed" in again.get_data(as_text=True)


def test_sending_every_failed_email_again_skips_erased_addresses(
    client, clock: Clock, accounts, failed
) -> None:
    sign_in(client, "admin@example.org")

    answer = client.post("/admin/mail/send-again", follow_redirects=True)

    assert "2 emails are back in the queue" in answer.get_data(as_text=True)
    assert status(failed["full"]) == (MailStatus.PENDING, 0)
    assert status(failed["busy"]) == (MailStatus.PENDING, 0)
    assert status(failed["erased"]) == (MailStatus.FAILED, 8)
    row = db.session.execute(
        sa.select(OutboxMessage.next_attempt_at).where(OutboxMessage.id == failed["busy"])
    ).scalar_one()
    assert row == clock()
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "Failed emails sent again" in log


def test_an_unknown_message_is_no_error_page(client, accounts, failed) -> None:
    sign_in(client, "admin@example.org")
    answer = client.post("/admin/mail/999999/send-again")
    assert answer.status_code == 302
    assert client.post("/admin/mail/99999999999/send-again").status_code == 404


def test_no_failed_mail_says_so(client, accounts) -> None:
    sign_in(client, "admin@example.org")
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "No email has failed." in page
    assert "Nothing is due" in page
