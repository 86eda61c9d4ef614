"""The email-text pages: every email in every language, editing with placeholders, a preview
that cannot run anything, reset to the built-in text, an audit entry for each change — for
administrators only."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from consular.extensions import db
from consular.models import AuditEntry
from consular.models.email_text import EmailText
from consular.services import email_texts
from tests.admin.conftest import sign_in

EDIT = "/admin/email-texts/confirmation/ru"


@pytest.fixture
def admin_client(client, accounts):
    sign_in(client, "admin@example.org")
    return client


def stored(kind: str = "confirmation", language: str = "ru") -> EmailText | None:
    return db.session.scalar(
        sa.select(EmailText).where(EmailText.kind == kind, EmailText.language == language)
    )


def audit(action: str) -> list[AuditEntry]:
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)).all()


def field_error(page: str, field: str) -> str:
    """The message shown right next to a field, as text."""
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    assert found, f"no message next to {field}"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


# The list


def test_the_list_shows_every_email_in_every_language_and_which_are_customised(
    app, admin_client, clock
):
    email_texts.save_text(
        db.session, None, clock(), "reminder", "ko", "{{ reference }}", "{{ name }}"
    )
    db.session.add(EmailText(kind="code", language="kk", subject="x", body="{{ config }}"))
    db.session.commit()

    page = admin_client.get("/admin/email-texts")

    assert page.status_code == 200
    for kind in email_texts.KINDS:
        for language in ("kk", "ru", "en", "ko"):
            assert f'href="/admin/email-texts/{kind}/{language}"' in page.text
    assert page.text.count("email-state-builtin") == len(email_texts.KINDS) * 4 - 2
    assert page.text.count("email-state-custom") == 1
    assert page.text.count("email-state-invalid") == 1
    assert 'aria-current="page"' in page.text  # the section is marked in the menu


# Editing


def test_the_edit_page_shows_the_built_in_text_its_placeholders_and_a_preview(app, admin_client):
    page = admin_client.get(EDIT)

    assert page.status_code == 200
    default = email_texts.default_text("confirmation", "ru")
    assert f'value="{html.escape(default.subject)}"' in page.text.replace("&#34;", "&quot;")
    assert html.escape(default.body, quote=False) in page.text
    for placeholder in email_texts.placeholders("confirmation"):
        assert f"<code>{placeholder.tag}</code>" in page.text
    assert "<code>{{ code }}</code>" not in page.text
    assert '<iframe class="email-frame" sandbox srcdoc=' in page.text
    assert "Reset to the built-in text" not in page.text  # nothing to reset


def test_saving_stores_the_text_writes_an_audit_entry_and_redirects(
    app, admin_client, accounts, clock
):
    response = admin_client.post(
        EDIT,
        data={"subject": "Запись {{ reference }}", "body": "Привет, {{ name }}!", "save": "Save"},
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith(EDIT)
    text = stored()
    assert (text.subject, text.body) == ("Запись {{ reference }}", "Привет, {{ name }}!")
    assert text.updated_by_id == accounts["admin"].id
    assert text.updated_at == clock()
    [entry] = audit("update_email_text")
    assert entry.user_id == accounts["admin"].id
    assert entry.before is None
    assert entry.after == {
        "kind": "confirmation",
        "language": "ru",
        "subject": "Запись {{ reference }}",
        "body": "Привет, {{ name }}!",
    }

    page = admin_client.get(EDIT)
    assert "The email text is saved." in page.text
    assert 'value="Запись {{ reference }}"' in page.text
    assert "email-state-custom" in page.text


def test_saving_again_records_the_text_before_and_after(app, admin_client):
    for body in ("First {{ name }}", "Second {{ name }}"):
        admin_client.post(EDIT, data={"subject": "S", "body": body, "save": "Save"})

    first, second = audit("update_email_text")
    assert second.before["body"] == "First {{ name }}"
    assert second.after["body"] == "Second {{ name }}"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailText)) == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"subject": "Hi", "body": "Hello {{ config }}"},
            "body",
            "{{ config }} is not a placeholder of this email.",
        ),
        (
            {"subject": "Hi {{ ''.__class__.__mro__ }}", "body": "Hello"},
            "subject",
            "Only placeholders such as {{ reference }} are allowed",
        ),
        (
            {"subject": "Hi", "body": "{% for x in range(3) %}{{ x }}{% endfor %}"},
            "body",
            "Only placeholders such as {{ reference }} are allowed",
        ),
        ({"subject": "", "body": "Hello"}, "subject", "Enter the subject."),
        ({"subject": "Hi", "body": "x" * 5001}, "body", "at most 5000 characters"),
    ],
)
def test_a_bad_text_comes_back_with_the_values_and_the_message_by_the_field(
    app, admin_client, data, field, message
):
    page = admin_client.post(EDIT, data=data | {"save": "Save"})

    assert page.status_code == 200
    assert message in field_error(page.text, field)
    assert html.escape(data["body"], quote=False) in page.text  # what was typed is kept
    assert "There is a problem" in page.text
    assert stored() is None
    assert audit("update_email_text") == []


def test_the_preview_renders_unsaved_text_inertly_with_sample_values(app, admin_client, offices):
    page = admin_client.post(
        EDIT,
        data={
            "subject": "Запись {{ reference }}",
            "body": "Привет, {{ name }}!\n\n<script>alert(1)</script>",
            "preview": "Preview",
        },
    )

    assert page.status_code == 200
    assert stored() is None  # a preview saves nothing
    assert "<script>alert" not in page.text
    frame = re.search(r'<iframe class="email-frame" sandbox srcdoc="([^"]*)"', page.text)
    assert frame, "the HTML version is shown in a sandboxed frame"
    email_html = html.unescape(frame.group(1))
    assert '<p style="font-size:15px;">Привет, Aigerim!</p>' in email_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email_html
    assert "<script" not in email_html
    assert "Офис seoul" in email_html  # the first office, in the page's language
    text = re.search(
        r'<pre class="email-text" id="preview-text" lang="ru">(.*?)</pre>', page.text, re.S
    )
    text_version = html.unescape(text.group(1))
    assert text_version.startswith("Привет, Aigerim!\n\n<script>alert(1)</script>\n")
    assert f"{offices[0].reference_prefix}-7Q4M2P" in text_version


def test_the_preview_of_a_bad_text_shows_the_message_by_the_field(app, admin_client):
    page = admin_client.post(
        EDIT, data={"subject": "Hi", "body": "{{ lipsum.__globals__ }}", "preview": "Preview"}
    )

    assert page.status_code == 200
    assert "Only placeholders" in field_error(page.text, "body")
    assert "srcdoc" not in page.text


def test_a_stored_text_that_no_longer_passes_is_shown_with_its_problem(app, admin_client):
    db.session.add(EmailText(kind="confirmation", language="ru", subject="Hi", body="{{ code }}"))
    db.session.commit()

    page = admin_client.get(EDIT)

    assert page.status_code == 200
    assert "email-state-invalid" in page.text
    assert "{{ code }} is not a placeholder" in field_error(page.text, "body")


def test_reset_goes_back_to_the_built_in_text_with_an_audit_entry(app, admin_client):
    admin_client.post(EDIT, data={"subject": "S {{ reference }}", "body": "B", "save": "Save"})
    assert "Reset to the built-in text" in admin_client.get(EDIT).text

    response = admin_client.post(f"{EDIT}/reset")

    assert response.status_code == 302
    assert stored() is None
    [entry] = audit("reset_email_text")
    assert entry.before["subject"] == "S {{ reference }}"
    page = admin_client.get(EDIT)
    assert "The email uses the built-in text again." in page.text
    default = email_texts.default_text("confirmation", "ru")
    assert html.escape(default.body, quote=False) in page.text


@pytest.mark.parametrize("path", ["/admin/email-texts/nothing/ru", "/admin/email-texts/code/de"])
def test_unknown_emails_and_languages_are_not_found(app, admin_client, path):
    assert admin_client.get(path).status_code == 404
    assert admin_client.post(path, data={"subject": "a", "body": "b"}).status_code == 404
    assert admin_client.post(f"{path}/reset").status_code == 404


# Access


@pytest.mark.parametrize("role", ["clerk_seoul", "manager_seoul"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/email-texts"),
        ("get", EDIT),
        ("post", EDIT),
        ("post", f"{EDIT}/reset"),
    ],
)
def test_other_staff_get_403(app, client, accounts, role, method, path):
    sign_in(client, accounts[role].email)

    response = getattr(client, method)(path, data={"subject": "S", "body": "B", "save": "Save"})

    assert response.status_code == 403
    assert stored() is None


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/admin/email-texts"), ("get", EDIT), ("post", EDIT), ("post", f"{EDIT}/reset")],
)
def test_anonymous_visitors_are_sent_to_sign_in(app, client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 302
    assert "/staff/sign-in" in response.headers["Location"]
