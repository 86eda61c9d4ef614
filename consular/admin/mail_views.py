"""The outbox as administrators see it: what waits, what failed, and sending it again."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from consular.admin import bp
from consular.admin.access import acting_admin, admin_page
from consular.admin.audit_views import korea_time
from consular.clock import now
from consular.extensions import db
from consular.services import outbox
from consular.services.email_texts import KIND_LABELS
from consular.services.retention import ERASED
from consular.services.suspicion import masked_email
from consular.transaction import transaction


def _kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


@bp.get("/mail")
@admin_page
def mail() -> str:
    """Show the outbox's counts, the wait of the oldest due message and the failed messages."""
    moment = now()
    summary = outbox.outbox_summary(db.session, moment)
    waited = None
    if summary.oldest_due_at is not None:
        waited = max(0, round((moment - summary.oldest_due_at).total_seconds() / 60))
    return render_template(
        "admin/mail.html",
        summary=summary,
        waited_minutes=waited,
        failed=outbox.failed_messages(db.session),
        shown_limit=outbox.FAILED_SHOWN,
        erased=ERASED,
        kind_label=_kind_label,
        masked_email=masked_email,
        korea_time=korea_time,
    )


def _send_again(message_id: int | None) -> Response:
    with transaction():
        moved = outbox.send_failed_again(db.session, acting_admin(), now(), message_id)
    if moved:
        flash(
            ngettext(
                "%(num)d email is back in the queue and goes out within a minute.",
                "%(num)d emails are back in the queue and go out within a minute.",
                moved,
            ),
            "success",
        )
    else:
        flash(_("Nothing to send again: the email is no longer failed."), "error")
    return redirect(url_for("admin.mail"))


@bp.post("/mail/<id:message_id>/send-again")
@admin_page
def mail_send_again(message_id: int) -> Response:
    """Queue one failed email again, with a fresh count of attempts."""
    return _send_again(message_id)


@bp.post("/mail/send-again")
@admin_page
def mail_send_all_again() -> Response:
    """Queue every failed email again (after the mail server's problem is fixed)."""
    return _send_again(None)
