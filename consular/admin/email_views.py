"""Administrators' pages for the wording of emails: the list, editing, preview and reset."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consular.admin import bp
from consular.admin.access import acting_admin, admin_page
from consular.admin.email_forms import EmailTextForm, ResetEmailTextForm
from consular.clock import now
from consular.extensions import db
from consular.models.i18n import LANGUAGE_NAMES, LANGUAGES
from consular.security import allow_inline_styles
from consular.services import email_texts, notifications
from consular.services.errors import DomainError, ValidationFailed
from consular.services.notifications import EmailPreview
from consular.transaction import transaction


def _checked(kind: str, language: str) -> None:
    if kind not in email_texts.KINDS or language not in LANGUAGES:
        abort(404)


def _show_errors(form: EmailTextForm, error: ValidationFailed) -> None:
    """Put the service's messages next to their fields."""
    for name, messages in error.fields.items():
        field = form.subject if name == "subject" else form.body
        field.errors = [*field.errors, *messages]


@bp.get("/email-texts", endpoint="email_texts")
@admin_page
def email_text_list() -> str:
    """Show every email in every language, marking those with an administrator's text."""
    return render_template(
        "admin/email_texts.html",
        kinds=email_texts.KINDS,
        kind_labels=email_texts.KIND_LABELS,
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
        customised=email_texts.customised(db.session),
    )


@bp.route("/email-texts/<kind>/<language>", methods=["GET", "POST"])
@admin_page
def email_text_edit(kind: str, language: str) -> str | Response:
    """Edit, preview and save the subject and message text of one email in one language."""
    _checked(kind, language)
    stored = email_texts.stored_text(db.session, kind, language)
    default = email_texts.default_text(kind, language)
    current = stored or default
    if request.method == "POST":
        form = EmailTextForm()
    else:
        form = EmailTextForm(data={"subject": current.subject, "body": current.body})
    preview: EmailPreview | None = None
    if form.validate_on_submit():
        try:
            if form.preview.data:
                preview = notifications.preview_email(
                    db.session, kind, language, form.subject.data or "", form.body.data or "", now()
                )
            else:
                with transaction():
                    email_texts.save_text(
                        db.session,
                        acting_admin(),
                        now(),
                        kind,
                        language,
                        form.subject.data or "",
                        form.body.data or "",
                    )
                flash(_("The email text is saved."), "success")
                return redirect(url_for("admin.email_text_edit", kind=kind, language=language))
        except ValidationFailed as error:
            _show_errors(form, error)
        except DomainError as error:
            form.body.errors = [*form.body.errors, str(error.message)]
    elif request.method == "GET":
        try:
            preview = notifications.preview_email(
                db.session, kind, language, current.subject, current.body, now()
            )
        except ValidationFailed as error:
            # A stored text that no longer passes: show why; the built-in text is sent.
            _show_errors(form, error)
    if preview is not None:
        allow_inline_styles()  # the e-mail's own inline styles, in its sandboxed frame
    return render_template(
        "admin/email_text_edit.html",
        form=form,
        reset_form=ResetEmailTextForm(),
        kind=kind,
        kind_label=email_texts.KIND_LABELS[kind],
        language=language,
        language_name=LANGUAGE_NAMES[language],
        is_custom=stored is not None,
        in_use=stored is not None and email_texts.is_valid(kind, stored.subject, stored.body),
        default=default,
        placeholders=email_texts.placeholders(kind),
        required=email_texts.REQUIRED_IN_BODY.get(kind, ()),
        preview=preview,
    )


@bp.post("/email-texts/<kind>/<language>/reset")
@admin_page
def email_text_reset(kind: str, language: str) -> Response:
    """Go back to the built-in text of one email in one language."""
    _checked(kind, language)
    if not ResetEmailTextForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
    else:
        try:
            with transaction():
                was_custom = email_texts.reset_text(
                    db.session, acting_admin(), now(), kind, language
                )
        except DomainError as error:
            flash(str(error.message), "error")
        else:
            if was_custom:
                flash(_("The email uses the built-in text again."), "success")
            else:
                flash(_("The email already uses the built-in text."), "success")
    return redirect(url_for("admin.email_text_edit", kind=kind, language=language))
