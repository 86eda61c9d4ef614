"""Forms of the email-text pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from consular.admin.form_base import AdminForm
from consular.services.email_texts import BODY_MAX_LENGTH, SUBJECT_MAX_LENGTH


class EmailTextForm(AdminForm):
    subject = StringField(
        _l("Subject"),
        validators=[
            InputRequired(message=_l("Enter the subject.")),
            Length(
                max=SUBJECT_MAX_LENGTH,
                message=_l("The subject can be at most %(max)d characters."),
            ),
        ],
        render_kw={"spellcheck": "true"},
    )
    body = TextAreaField(
        _l("Message text"),
        description=_l(
            "Plain text: an empty line starts a new paragraph. The visit's details, the "
            "documents, the links, the calendar file and the QR code are added below it."
        ),
        validators=[
            InputRequired(message=_l("Enter the message text.")),
            Length(
                max=BODY_MAX_LENGTH,
                message=_l("The message text can be at most %(max)d characters."),
            ),
        ],
        render_kw={"rows": 12},
    )
    save = SubmitField(_l("Save"))
    preview = SubmitField(_l("Preview"))


class ResetEmailTextForm(AdminForm):
    """Only the CSRF token: going back to the built-in text asks for nothing else."""
