"""What every citizen e-mail is made of, in every language: a text part whose labelled lines
stand on their own lines, the headers of the citizen's language and office, and a QR code that
an ordinary scanner reads."""

from __future__ import annotations

import base64
import email
import re
from collections.abc import Callable
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext

from consular.extensions import db
from consular.models import Office, ServiceType
from consular.models.i18n import LANGUAGES
from consular.services import booking, mail, notifications
from consular.services.calendar import reference_qr_png
from tests.conftest import SECRET, Clock, booking_body
from tests.emails import (
    APPOINTMENT_KINDS,
    KINDS,
    OFFICE_MESSAGE,
    Emails,
    every_email,
    first_free_start,
)
from tests.qr import decode_qr
from tests.smtp import Received, SMTPServer

POLICY = booking.BookingPolicy(secret=SECRET)

OFFICE_NAMES = {
    "kk": "Қазақстан Республикасының Пусандағы Бас консулдығы",
    "ru": "Генеральное консульство Республики Казахстан в Пусане",
    "en": "Consulate General of the Republic of Kazakhstan in Busan",
    "ko": "주부산 카자흐스탄 공화국 총영사관",
}
ADDRESSES = {language: f"{language}: 12 Jungang-daero, Busan" for language in LANGUAGES}
DIRECTIONS = {language: f"{language}: Busan station, exit 10" for language in LANGUAGES}
SERVICE_NAMES = {
    "kk": "Төлқұжатты ауыстыру",
    "ru": "Замена паспорта",
    "en": "Passport renewal / replacement",
    "ko": "여권 갱신 및 재발급",
}
DOCUMENTS = {language: [f"{language}: passport", f"{language}: photo"] for language in LANGUAGES}
FEES = {language: f"{language}: 20 USD at the desk" for language in LANGUAGES}


@pytest.fixture
def visit(
    app, make_office: Callable[..., Office], make_service: Callable[..., ServiceType], clock: Clock
) -> Callable[[str], Emails]:
    """Book a visit at an office described in every language; return its e-mails."""
    service = make_service(name=SERVICE_NAMES, documents=DOCUMENTS, fee=FEES)
    office = make_office("busan", services=[service])
    office.name, office.address, office.directions = OFFICE_NAMES, ADDRESSES, DIRECTIONS
    office.postal_code, office.phone = "48729", "+82 51 000 0000"
    db.session.commit()
    start = first_free_start(db.session, office, [service], clock())

    def factory(language: str) -> Emails:
        body = booking_body(office, [service], start, language=language)
        return every_email(db.session, body, clock(), POLICY)

    return factory


def lines_of(text: str) -> list[str]:
    return text.split("\n")


def translated(language: str, message: str) -> str:
    with force_locale(language):
        return gettext(message)


# The QR code


def test_the_reference_qr_is_a_regular_qr_code_not_a_micro_one(app) -> None:
    from consular.services.calendar import reference_qr

    # A short reference is what made segno choose a Micro QR (M3-M) before.
    assert not reference_qr("SEL-7Q4M2P").is_micro


def test_zbar_reads_the_reference_from_the_emails_qr_image(
    visit: Callable[[str], Emails], tmp_path: Path
) -> None:
    emails = visit("kk")
    reference = emails.appointment.reference
    for kind in ("confirmation", "reminder", "change"):
        [image] = [a for a in emails.by_kind[kind].attachments if a["content_type"] == "image/png"]
        assert decode_qr(base64.b64decode(image["content"]), tmp_path) == [reference], kind


def test_zbar_reads_a_reference_of_any_length(app, tmp_path: Path) -> None:
    for reference in ("SEL-2A", "SEL-7Q4M2P", "BSN-ABCDEFGHJK"):
        assert decode_qr(reference_qr_png(reference), tmp_path) == [reference]


# The text part's lines


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_labelled_line_of_every_text_part_stands_on_its_own_line(
    visit: Callable[[str], Emails], language: str
) -> None:
    emails = visit(language)
    appointment = emails.appointment
    t = lambda message: translated(language, message)  # noqa: E731
    visit_lines = [
        f"{t('Reference')}: {appointment.reference}",
        f"{t('Office')}: {OFFICE_NAMES[language]}",
        f"{t('Address')}: {ADDRESSES[language]}",
        f"{t('Services')}: {SERVICE_NAMES[language]}",
    ]
    details_lines = [f"{t('How to get there')}: {DIRECTIONS[language]}"]
    for kind in APPOINTMENT_KINDS:
        text = emails.by_kind[kind].text_body
        lines = lines_of(text)
        assert "\r" not in text
        expected = visit_lines + (
            details_lines if kind in ("confirmation", "reminder", "change") else []
        )
        for line in expected:
            assert line in lines, f"{kind} ({language}): no line {line!r} in\n{text}"
        assert any(line.startswith(f"{t('Date')}: ") for line in lines), (kind, text)
        assert any(line.startswith(f"{t('Time')}: ") for line in lines), (kind, text)
        # The visit's block is one block of lines; what follows it starts after a blank line.
        services = lines.index(f"{t('Services')}: {SERVICE_NAMES[language]}")
        assert services + 1 == len(lines) or lines[services + 1] == "", (kind, text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_headings_and_lists_of_the_text_part_are_lines_of_their_own(
    visit: Callable[[str], Emails], language: str
) -> None:
    emails = visit(language)
    t = lambda message: translated(language, message)  # noqa: E731
    for kind in ("confirmation", "reminder", "change"):
        text = emails.by_kind[kind].text_body
        lines = lines_of(text)
        documents = lines.index(f"{t('Documents to bring')}:")
        assert lines[documents - 1] == "", (kind, text)
        assert lines[documents + 1 : documents + 3] == [f"- {d}" for d in DOCUMENTS[language]]
        fee = lines.index(f"{t('Fee (paid at the office)')}:")
        assert lines[fee - 1] == "" and lines[fee + 1] == f"- {FEES[language]}", (kind, text)
        link = lines.index(t("To see, change or cancel your appointment, open:"))
        assert lines[link - 1] == ""
        assert re.fullmatch(r"http://consular\.test/manage/[A-Z0-9-]+/\S+", lines[link + 1])
    for kind in ("schedule_change", "review_cancellation"):
        lines = lines_of(emails.by_kind[kind].text_body)
        heading = lines.index(f"{t('Message from the office')}:")
        assert lines[heading - 1] == "" and lines[heading + 1] == OFFICE_MESSAGE
        book = lines.index(t("Please book a new time:"))
        assert lines[book - 1] == "" and lines[book + 1] == "http://consular.test/book"
    lines = lines_of(emails.by_kind["cancellation"].text_body)
    book = lines.index(t("You can book a new appointment at any time:"))
    assert lines[book - 1] == "" and lines[book + 1] == "http://consular.test/"
    lines = lines_of(emails.by_kind["notice"].text_body)
    assert f"Reference: {emails.appointment.reference}" in lines
    assert "Date: Friday" in lines
    link = lines.index("Confirm or decline:")
    assert lines[link - 1] == "" and lines[link + 1].startswith("http://consular.test/waitlist/")


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_label_is_glued_to_the_value_before_it(
    visit: Callable[[str], Emails], language: str
) -> None:
    emails = visit(language)
    labels = [
        translated(language, label)
        for label in (
            "Reference",
            "Date",
            "Time",
            "Office",
            "Address",
            "Services",
            "How to get there",
            "Documents to bring",
            "Fee (paid at the office)",
            "Message from the office",
        )
    ]
    for kind in KINDS:
        text = emails.by_kind[kind].text_body
        for label in labels:
            for found in re.finditer(re.escape(f"{label}:"), text):
                assert found.start() == 0 or text[found.start() - 1] == "\n", (
                    f"{kind} ({language}): {label!r} does not begin a line:\n{text}"
                )


# The headers, as the SMTP server receives them


def as_sent(received: Received) -> Message:
    """The message with its headers as they came over the wire, still encoded."""
    return email.message_from_bytes(received.content, policy=policy.compat32)


def decoded(value: str) -> str:
    """A header's text as RFC 2047 reads it: the space between encoded words is no space."""
    return str(make_header(decode_header(value)))


def sender_of(received: Received) -> tuple[str, str]:
    """The From header's display name and address."""
    name, address = parseaddr(as_sent(received)["From"])
    return decoded(name), address


def deliver(app, smtp_server: SMTPServer, clock: Clock) -> mail.DeliveryReport:
    app.config.update(smtp_server.settings())
    return mail.deliver_due(db.session, mail.transport_from_config(app.config), clock(), 3)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_email_names_the_citizens_language_and_comes_from_the_office_in_it(
    app, visit: Callable[[str], Emails], language: str, smtp_server: SMTPServer, clock: Clock
) -> None:
    emails = visit(language)
    app.config["MAIL_SENDER"] = "Consular appointments <no-reply@consular.test>"

    report = deliver(app, smtp_server, clock)

    assert report.sent == len(KINDS) == len(smtp_server.received)
    subjects = {message.subject for message in emails.by_kind.values()}
    for received in smtp_server.received:
        headers = as_sent(received)
        subject = decoded(headers["Subject"])
        assert subject in subjects
        assert headers.get_all("Content-Language") == [language], subject
        assert sender_of(received) == (OFFICE_NAMES[language], "no-reply@consular.test")
        assert received.mail_from == "no-reply@consular.test"
        assert received.rcpt_tos == [emails.appointment.email]
        # The parts say nothing else.
        for part in received.message.walk():
            assert part is received.message or part["Content-Language"] is None


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        pytest.param(
            "Посольство, консульский отдел",
            "Кодтың расталды жазылу растауы консулдық Подтверждение приём приём на "
            "қабылдауға Кодтың: SEL-7Q4M2P",
            # Python's own folding lost the space of "жазылу растауы" and "консульский отдел".
            id="long-cyrillic",
        ),
        pytest.param(
            "주부산 카자흐스탄 공화국 총영사관", "예약이 확인되었습니다: BSN-7Q4M2P", id="hangul"
        ),
        pytest.param(
            "Embassy of the Republic of Kazakhstan, consular section",
            "Appointment confirmed: SEL-7Q4M2P",
            id="latin-with-a-comma",
        ),
    ],
)
def test_names_and_subjects_in_any_script_arrive_as_written(
    app, smtp_server: SMTPServer, clock: Clock, name: str, subject: str
) -> None:
    notifications.queue_email(
        db.session,
        kind="code",
        recipient="aigerim@example.com",
        subject=subject,
        text_body="Your code.",
        html_body="<p>Your code.</p>",
        now=clock(),
        language="ru",
        sender_name=name,
    )
    db.session.commit()

    deliver(app, smtp_server, clock)

    [received] = smtp_server.received
    assert sender_of(received) == (name, "no-reply@consular.localhost")
    assert decoded(as_sent(received)["Subject"]) == subject
    assert str(received.message["Subject"]) == subject
    assert received.mail_from == "no-reply@consular.localhost"
    assert all(len(line) <= 78 for line in received.content.split(b"\r\n\r\n")[0].split(b"\r\n"))


def test_a_name_with_a_line_break_stays_one_header(
    app, smtp_server: SMTPServer, clock: Clock
) -> None:
    notifications.queue_email(
        db.session,
        kind="code",
        recipient="aigerim@example.com",
        subject="Code",
        text_body="Your code.",
        html_body=None,
        now=clock(),
        language="kk",
        sender_name="Office\r\nBcc: someone@example.com",
    )
    db.session.commit()

    deliver(app, smtp_server, clock)

    [received] = smtp_server.received
    assert received.rcpt_tos == ["aigerim@example.com"]
    assert received.message["Bcc"] is None
    assert sender_of(received) == ("Office Bcc: someone@example.com", "no-reply@consular.localhost")
    assert received.message["Content-Language"] == "kk"


def test_a_message_without_a_language_goes_out_with_the_configured_sender(
    app, smtp_server: SMTPServer, clock: Clock
) -> None:
    notifications.queue_email(
        db.session,
        kind="code",
        recipient="aigerim@example.com",
        subject="Code",
        text_body="Your code.",
        html_body=None,
        now=clock(),
    )
    db.session.commit()

    deliver(app, smtp_server, clock)

    [received] = smtp_server.received
    assert received.message["Content-Language"] is None
    assert received.message["From"] == "Consular appointments <no-reply@consular.localhost>"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_visits_emails_say_what_to_know_before_going_as_the_pages_do(
    visit: Callable[[str], Emails], language: str
) -> None:
    emails = visit(language)
    t = lambda message: translated(language, message)  # noqa: E731
    for kind in ("confirmation", "reminder", "change"):
        text = emails.by_kind[kind].text_body
        lines = lines_of(text)
        heading = lines.index(f"{t('Before you go')}:")
        assert lines[heading - 1] == "", (kind, text)
        korean = t("Address in Korean, for a taxi or a map app")
        assert lines[heading + 1] == f"- {korean}: (48729) {ADDRESSES['ko']}", (kind, text)
        hours = [line for line in lines if line.startswith(f"- {t('Opening hours')}, ")]
        assert hours and all(re.search(r"\d\d:\d\d–\d\d:\d\d", line) for line in hours)
        late = next(line for line in lines if line.startswith(f"- {t('If you are late')}: "))
        assert "15" in late, late
        assert f"- {t('Phone')}: +82 51 000 0000" in lines, (kind, text)
        html = emails.by_kind[kind].html_body
        assert t("Before you go") in html
        assert f'<td lang="ko" style="word-break:keep-all;">(48729) {ADDRESSES["ko"]}</td>' in html
        assert 'href="tel:+82510000000"' in html


def test_the_emails_hours_are_those_of_the_visits_week(app, make_office, clock: Clock) -> None:
    from datetime import date, time

    from consular.models import OpeningPeriod
    from consular.services.timefmt import opening_hours, weekday_names

    office = make_office("seoul")
    monday = [p for p in office.opening_periods if p.weekday == 0]
    for period in monday:
        period.valid_until = date(2027, 1, 31)
    office.opening_periods.append(
        OpeningPeriod(
            weekday=0, opens_at=time(10, 0), closes_at=time(13, 0), valid_from=date(2027, 2, 1)
        )
    )
    db.session.commit()
    names = weekday_names("en")
    january = dict(opening_hours(office, names, date(2027, 1, 20)))
    february = dict(opening_hours(office, names, date(2027, 2, 3)))
    assert "10:00–13:00" not in " ".join(january.values())
    assert february["Mon"] == "10:00–13:00"
