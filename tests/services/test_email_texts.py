"""Email texts: an administrator's wording goes out in the citizen's language, the built-in
wording otherwise; a text can hold literal words and placeholders, nothing that runs or marks
up, and a stored text that does not pass falls back to the built-in one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext
from markupsafe import escape

from consular.extensions import db
from consular.models import Appointment, OutboxMessage
from consular.models.email_text import EmailText
from consular.models.i18n import LANGUAGES
from consular.services import booking, email_texts, notifications
from consular.services.email_texts import EmailWording
from consular.services.errors import ValidationFailed
from tests.conftest import SECRET, booking_body

POLICY = booking.BookingPolicy(secret=SECRET)
FRIDAY_9 = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
VALUES = {
    "reference": "TAA-1234",
    "name": "Aigerim",
    "office": "Seoul",
    "date": "Friday, December 4, 2026",
    "time": "09:00",
    "manage_link": "http://consular.test/manage/TAA-1234/token",
}


@pytest.fixture
def book(app, make_office, make_service, clock):
    """Hold and confirm a visit on Friday in a language; return the appointment."""
    service = make_service()
    office = make_office(services=[service])

    def factory(language: str = "en", given_name: str = "Aigerim") -> Appointment:
        body = booking_body(
            office, [service], FRIDAY_9, applicant={"given_name": given_name}, language=language
        )
        request = booking.parse_booking_request(db.session, body, clock(), POLICY)
        placed = booking.place_hold(db.session, request, clock(), POLICY)
        booking.confirm_hold(db.session, placed.appointment, placed.code, clock(), POLICY)
        db.session.commit()
        return placed.appointment

    return factory


def sent(kind: str) -> OutboxMessage:
    return db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    ).all()[-1]


def save(kind: str, language: str, subject: str, body: str, clock) -> EmailText:
    stored = email_texts.save_text(db.session, None, clock(), kind, language, subject, body)
    db.session.commit()
    return stored


# Placeholders and built-in texts


def test_placeholders_are_filled_in_subject_and_text(app):
    wording = EmailWording(
        subject="Visit {{ reference }} on {{ date }}",
        body="Dear {{ name }},\n\nsee you at {{ office }} at {{ time }}.\n{{ manage_link }}",
    )

    rendered = email_texts.render_wording("confirmation", wording, VALUES)

    assert rendered.subject == "Visit TAA-1234 on Friday, December 4, 2026"
    assert rendered.text == (
        "Dear Aigerim,\n\nsee you at Seoul at 09:00.\nhttp://consular.test/manage/TAA-1234/token"
    )
    assert rendered.html == (
        '<p style="font-size:15px;">Dear Aigerim,</p>\n'
        '<p style="font-size:15px;">see you at Seoul at 09:00.<br>\n'
        "http://consular.test/manage/TAA-1234/token</p>\n"
    )


def test_each_email_lists_only_the_placeholders_that_mean_something_for_it(app):
    names = {kind: {p.name for p in email_texts.placeholders(kind)} for kind in email_texts.KINDS}

    assert {"reference", "name", "office", "date", "time"} <= set.intersection(*names.values())
    assert [kind for kind, found in names.items() if "code" in found] == ["code"]
    assert "manage_link" in names["confirmation"] and "manage_link" not in names["cancellation"]
    assert "book_link" in names["schedule_change"] and "book_link" not in names["code"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", email_texts.KINDS)
def test_the_built_in_texts_are_valid_texts_with_placeholders(app, kind, language):
    wording = email_texts.default_text(kind, language)

    email_texts.validate(kind, wording.subject, wording.body)
    assert "{{ name }}" in wording.body
    assert "%(" not in wording.subject + wording.body


def test_the_built_in_texts_come_from_the_translations(app):
    with force_locale("ru"):
        hello = gettext("Hello %(name)s,", name="{{ name }}")
        confirmed = gettext("Your appointment is confirmed.")
    assert not confirmed.startswith("Your")  # really translated

    wording = email_texts.default_text("confirmation", "ru")

    assert wording.body == f"{hello}\n\n{confirmed}"
    assert "{{ minutes }}" in email_texts.default_text("code", "ko").body


# What goes into the outbox


def test_an_administrators_text_is_sent_in_the_citizens_language(app, book, clock):
    save("confirmation", "ru", "Запись {{ reference }}", "Привет, {{ name }}!\n\nЖдём вас.", clock)
    save("confirmation", "en", "Booked {{ reference }}", "Hi {{ name }}.", clock)

    appointment = book(language="ru")

    message = sent("confirmation")
    assert message.subject == f"Запись {appointment.reference}"
    assert message.text_body.startswith("Привет, Aigerim!\n\nЖдём вас.\n")
    assert '<p style="font-size:15px;">Привет, Aigerim!</p>' in message.html_body
    assert '<p style="font-size:15px;">Ждём вас.</p>' in message.html_body
    assert f"<title>Запись {appointment.reference}</title>" in message.html_body
    assert "Hi Aigerim" not in message.text_body
    # The application's part is still there: the visit, the manage link, calendar and QR.
    assert appointment.reference in message.text_body
    assert "/manage/" in message.text_body and "/manage/" in message.html_body
    assert "cid:" in message.html_body
    assert len(message.attachments) == 2


def test_without_a_text_the_built_in_wording_is_sent(app, book, clock):
    save("confirmation", "en", "Booked {{ reference }}", "Hi {{ name }}.", clock)

    appointment = book(language="ru")

    message = sent("confirmation")
    with force_locale("ru"):
        subject = gettext("Appointment confirmed: %(reference)s", reference=appointment.reference)
        confirmed = gettext("Your appointment is confirmed.")
    assert message.subject == subject
    assert confirmed in message.text_body and confirmed in message.html_body


def test_the_code_email_text_carries_the_code(app, book, clock):
    save(
        "code",
        "en",
        "Code {{ code }} for {{ reference }}",
        "Your code: {{ code }} (valid {{ minutes }} min).",
        clock,
    )

    book(language="en")

    message = sent("code")
    code = message.subject.split()[1]
    assert code.isdigit() and len(code) == 6
    assert f"Your code: {code} (valid " in message.text_body
    assert f"Your code: {code} (valid " in message.html_body


# Injection attempts: refused on save


ATTEMPTS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{% for %}",
    "{{ config }}",
    "{{ config.SECRET_KEY }}",
    "{{ reference|safe }}",
    "{{ self }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ request }}",
    "{{ reference.upper() }}",
    "{{ name['x'] }}",
    "{{ reference ~ name }}",
    "{{ 7 * 7 }}",
    "{{ 'text' }}",
    "{% set x = 1 %}",
    "{% if reference %}x{% endif %}",
    "{% include 'email/_layout.html' %}",
    "{% extends 'base.html' %}",
    "{% macro m() %}x{% endmacro %}",
    "{% raw %}{{ config }}{% endraw %}",
    "{# a comment #}",
    "{% autoescape false %}{{ reference }}{% endautoescape %}",
    "{{ reference",
    "{{ }}",
    pytest.param("{{ " + "(" * 2400 + "reference" + ")" * 2400 + " }}", id="deep-nesting"),
]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_template_code_in_the_text_is_refused_on_save(app, clock, attempt):
    with pytest.raises(ValidationFailed) as refused:
        email_texts.save_text(
            db.session, None, clock(), "confirmation", "en", "Hello", f"Hello {attempt}"
        )

    assert list(refused.value.fields) == ["body"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailText)) == 0


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_template_code_in_the_subject_is_refused_on_save(app, clock, attempt):
    with pytest.raises(ValidationFailed) as refused:
        email_texts.save_text(
            db.session, None, clock(), "confirmation", "en", f"Hi {attempt}", "Hello {{ name }}"
        )

    assert list(refused.value.fields) == ["subject"]


def test_the_message_names_the_unknown_placeholder_and_the_allowed_ones(app, clock):
    with pytest.raises(ValidationFailed) as refused:
        email_texts.validate("confirmation", "Hi", "Your code is {{ code }} at {{ config }}")

    [message_code, message_config] = refused.value.fields["body"]
    assert message_code.startswith("{{ code }} is not a placeholder of this email.")
    assert "{{ config }}" in message_config
    assert "{{ reference }}" in message_code and "{{ manage_link }}" in message_code


def test_other_template_code_gets_the_general_message(app):
    with pytest.raises(ValidationFailed) as refused:
        email_texts.validate("confirmation", "Hi", "{{ reference|safe }}")

    assert refused.value.fields["body"] == [
        "Only placeholders such as {{ reference }} are allowed: no other template code."
    ]


def test_the_code_email_must_show_the_code(app):
    with pytest.raises(ValidationFailed) as refused:
        email_texts.validate("code", "Your code", "Hello {{ name }}")

    assert refused.value.fields["body"] == ["This email must contain the placeholder {{ code }}."]


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("", "Hello", "subject"),
        ("   ", "Hello", "subject"),
        ("Hi", " \n ", "body"),
        ("x" * 201, "Hello", "subject"),
        ("Hi", "x" * 5001, "body"),
    ],
)
def test_empty_or_too_long_texts_are_refused(app, clock, subject, body, field):
    with pytest.raises(ValidationFailed) as refused:
        email_texts.save_text(db.session, None, clock(), "reminder", "kk", subject, body)

    assert list(refused.value.fields) == [field]


def test_the_subject_is_one_line_and_control_characters_are_dropped(app, clock):
    stored = save("reminder", "en", "Soon:\r\nBcc: x@example.com", "A\r\nB\x00C\r\n", clock)

    assert stored.subject == "Soon: Bcc: x@example.com"
    assert stored.body == "A\nBC"


# Injection attempts: markup is rendered inert


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        '<a href="javascript:alert(1)">Open</a>',
        '<img src=x onerror="alert(1)">',
        "</p><iframe src=//evil.example></iframe>",
    ],
)
def test_markup_in_the_text_is_escaped_in_the_html_part(app, book, clock, markup):
    save("confirmation", "en", "Booked <b>now</b>", "Hi {{ name }}, " + markup, clock)

    book(language="en")

    message = sent("confirmation")
    assert f"Hi Aigerim, {escape(markup)}" in message.html_body
    for tag in ("<script", "<iframe", "<img src=x", 'href="javascript'):
        assert tag not in message.html_body
    assert "<title>Booked &lt;b&gt;now&lt;/b&gt;</title>" in message.html_body
    assert f"Hi Aigerim, {markup}" in message.text_body  # plain text: shown as typed


def test_markup_in_a_value_is_escaped_in_the_html_part(app, book, clock):
    save("confirmation", "en", "For {{ name }}", "Hi {{ name }}.", clock)
    appointment = book(language="en")
    appointment.given_name = '<b onmouseover="alert(1)">Aigerim</b>'

    message = notifications.queue_confirmation_email(db.session, appointment, "token", clock())

    assert "<b " not in message.html_body
    assert "Hi &lt;b onmouseover=&#34;alert(1)&#34;&gt;Aigerim&lt;/b&gt;." in message.html_body
    assert message.subject == 'For <b onmouseover="alert(1)">Aigerim</b>'


def test_a_value_that_looks_like_a_placeholder_is_not_rendered_again(app):
    rendered = email_texts.render_wording(
        "confirmation",
        EmailWording(subject="{{ name }}", body="Hi {{ name }}"),
        VALUES | {"name": "{{ config }}"},
    )

    assert rendered.subject == "{{ config }}"
    assert rendered.text == "Hi {{ config }}"


# A stored text that does not pass falls back


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Booked", "{{ config }}"),
        ("Booked {{ ''.__class__ }}", "Hello"),
        ("Booked", "{% for x in range(9) %}{{ x }}{% endfor %}"),
        ("Booked", "Your code {{ code }}"),  # a placeholder of another email
        ("Booked", "{{ reference"),
        ("", "Hello"),
    ],
)
def test_a_stored_text_that_does_not_pass_falls_back_to_the_built_in_text(
    app, book, clock, subject, body
):
    db.session.add(EmailText(kind="confirmation", language="en", subject=subject, body=body))
    db.session.commit()

    appointment = book(language="en")

    message = sent("confirmation")
    assert message.subject == f"Appointment confirmed: {appointment.reference}"
    assert message.text_body.startswith("Hello Aigerim,\n\nYour appointment is confirmed.\n")
    assert email_texts.customised(db.session) == {("confirmation", "en"): False}


def test_reset_goes_back_to_the_built_in_text(app, book, clock):
    save("confirmation", "en", "Booked {{ reference }}", "Hi {{ name }}.", clock)

    assert email_texts.reset_text(db.session, None, clock(), "confirmation", "en") is True
    assert email_texts.reset_text(db.session, None, clock(), "confirmation", "en") is False
    db.session.commit()
    appointment = book(language="en")

    assert sent("confirmation").subject == f"Appointment confirmed: {appointment.reference}"
    assert email_texts.customised(db.session) == {}
