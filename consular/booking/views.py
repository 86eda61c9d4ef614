"""Citizen pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from consular.booking import bp
from consular.extensions import db
from consular.models import Office, OutboxMessage
from consular.models.i18n import LANGUAGES


@bp.get("/")
def home() -> str:
    """Show the offices and what each offers."""
    offices = db.session.scalars(sa.select(Office).order_by(Office.id)).all()
    return render_template("booking/home.html", offices=offices)


@bp.post("/language")
def set_language() -> Response:
    """Remember the visitor's language and go back to the page they were on."""
    language = request.form.get("language", "")
    if language in LANGUAGES:
        session["language"] = language
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("booking.home")
    return redirect(target)


@bp.get("/dev/mailbox")
def dev_mailbox() -> str:
    """Show the outbox, newest first, when no SMTP server is configured (development only)."""
    if not current_app.config["MAIL_DEV_MAILBOX"]:
        abort(404)
    messages = db.session.scalars(
        sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(50)
    ).all()
    return render_template("booking/dev_mailbox.html", messages=messages)
