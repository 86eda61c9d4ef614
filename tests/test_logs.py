"""Logs (issue 14): one JSON line per request and per domain event on standard error, every
line of a request carrying its id, and no e-mail address, IIN or passport number in any
line, whoever wrote it; commands log the same way."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bench.server import free_port
from consular.config import ConfigError
from consular.extensions import db
from consular.models import Base, OutboxMessage, Role, User
from consular.observability import logs
from consular.services import booking
from consular.services.passwords import hash_password
from tests.conftest import DEFAULT_NOW, SECRET, booking_body

ROOT = Path(__file__).resolve().parent.parent
MONDAY_9 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def lines(text: str) -> list[dict[str, Any]]:
    """Every line written, each of which must be one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def written(capsys: pytest.CaptureFixture[str], logger: str | None = None) -> list[dict]:
    entries = lines(capsys.readouterr().err)
    return [entry for entry in entries if logger is None or entry["logger"] == logger]


def test_one_json_line_per_request_with_its_id(client, capsys) -> None:
    capsys.readouterr()
    response = client.get("/__ping")
    request_id = response.headers["X-Request-ID"]
    (entry,) = written(capsys, "consular.request")
    assert entry["request_id"] == request_id
    assert {key: entry[key] for key in ("level", "method", "endpoint", "path", "status")} == {
        "level": "INFO",
        "method": "GET",
        "endpoint": "ping",
        "path": "/__ping",
        "status": 200,
    }
    assert isinstance(entry["duration_ms"], float) and "time" in entry
    assert "staff_id" not in entry
    # Another request, another id.
    assert client.get("/__ping").headers["X-Request-ID"] != request_id


def test_a_link_token_stays_out_of_the_request_line(client, capsys) -> None:
    token = "OzOaiaNtb1P7a_oqVTqP2klJqNHsTFYxE-5rYzp6Rvc"
    capsys.readouterr()
    client.get(f"/manage/SEL-7Q4M2P/{token}")
    (entry,) = written(capsys, "consular.request")
    assert entry["path"] == "/manage/SEL-7Q4M2P/[token]"
    assert token not in json.dumps(entry)


def test_every_line_of_a_request_carries_its_id(app_with, capsys) -> None:
    app = app_with(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    capsys.readouterr()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    entries = written(capsys)
    assert {entry["logger"] for entry in entries} >= {"consular", "consular.request"}
    assert {entry.get("request_id") for entry in entries} == {response.headers["X-Request-ID"]}
    warning = next(entry for entry in entries if entry["level"] == "WARNING")
    assert warning["message"] == "readiness: the database did not answer"
    assert "OperationalError" in warning["exc_info"]


@pytest.mark.parametrize(
    ("proxy_count", "peer", "given", "kept"),
    [
        (0, "127.0.0.1", "lb-1234-abcd", False),  # no proxy configured: nobody is trusted
        (1, "203.0.113.5", "forged-by-client", False),  # not a trusted proxy
        (1, "127.0.0.1", "nginx-0123456789abcdef", True),
        (1, "127.0.0.1", "bad id with spaces", False),
        (1, "127.0.0.1", "x" * 65, False),
        (1, "127.0.0.1", '","level":"CRITICAL', False),
    ],
)
def test_a_request_id_is_taken_only_from_a_trusted_proxy_and_only_if_sane(
    app_with, database_url, capsys, proxy_count, peer, given, kept
) -> None:
    app = app_with(database_url, PROXY_COUNT=proxy_count)
    capsys.readouterr()
    response = app.test_client().get(
        "/__ping", headers={"X-Request-ID": given}, environ_base={"REMOTE_ADDR": peer}
    )
    (entry,) = written(capsys, "consular.request")
    assert (response.headers["X-Request-ID"] == given) is kept
    assert entry["request_id"] == response.headers["X-Request-ID"]
    assert logs.REQUEST_ID.fullmatch(entry["request_id"])


def test_personal_data_in_any_line_is_masked(client, capsys) -> None:
    capsys.readouterr()
    logger = logging.getLogger("consular.somewhere")
    logger.warning(
        "could not mail %s (IIN %s, passport %s)",
        "aigerim@example.com",
        "850502401238",
        "N12345678",
    )
    logger.info("lookup", extra={"who": "Aigerim <aigerim.n+x@mail.kz>"})
    try:
        raise ValueError("duplicate key (iin)=(850502401238)")
    except ValueError:
        logger.exception("insert failed")
    text = capsys.readouterr().err
    for secret in ("aigerim@example.com", "850502401238", "N12345678", "aigerim.n+x@mail.kz"):
        assert secret not in text
    entries = [entry for entry in lines(text) if entry["logger"] == "consular.somewhere"]
    assert entries[0]["message"] == "could not mail [email] (IIN [iin], passport [passport])"
    assert entries[1]["who"] == "Aigerim <[email]>"
    assert "duplicate key (iin)=([iin])" in entries[2]["exc_info"]


def test_ids_and_numbers_that_are_not_personal_data_are_kept() -> None:
    mask = logs.PersonalDataMask()
    text = "appointment 1234 slot 8501 duration 12.5 ms reference SEL-7Q4M2P 2026-11-30T09:00"
    assert mask(text) == text
    assert mask("1234567890123") == "1234567890123"  # 13 digits: not an IIN


def test_a_domain_event_line_names_ids_never_the_person(app, make_office, make_service, capsys):
    service = make_service("passport-renewal")
    office = make_office("seoul", services=[service])
    policy = booking.BookingPolicy(secret=SECRET)
    now = DEFAULT_NOW
    body = booking_body(office, [service], MONDAY_9)
    request = booking.parse_booking_request(db.session, body, now, policy)
    capsys.readouterr()
    placed = booking.place_hold(db.session, request, now, policy)
    assert written(capsys, "consular.events") == []  # not before the commit
    db.session.commit()
    (entry,) = written(capsys, "consular.events")
    assert entry["event"] == "hold_placed" and entry["office"] == "seoul"
    assert entry["appointment_id"] == placed.appointment.id
    line = json.dumps(entry)
    for personal in ("Aigerim", "Nurlanova", "850502401238", "N12345678", "aigerim@", "1234-5678"):
        assert personal not in line


def test_a_signed_in_staff_request_names_the_account(app, client, capsys) -> None:
    user = User(
        email="admin@example.org",
        name="Admin",
        role=Role.ADMIN,
        password_hash=hash_password("correct horse battery staple"),
        offices=[],
    )
    db.session.add(user)
    db.session.commit()
    signed_in = client.post(
        "/staff/sign-in",
        data={"email": user.email, "password": "correct horse battery staple"},
    )
    assert signed_in.status_code == 302
    capsys.readouterr()
    client.get(signed_in.location)
    (entry,) = written(capsys, "consular.request")
    assert entry["staff_id"] == user.id
    assert "admin@example.org" not in json.dumps(entry)


def test_text_format_and_level_are_settings(app_with, database_url, capsys) -> None:
    app = app_with(database_url, LOG_FORMAT="text", LOG_LEVEL="WARNING")
    capsys.readouterr()
    app.test_client().get("/__ping")  # an INFO line: below the level
    logging.getLogger("consular.x").warning("mail to someone@example.com")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("WARNING consular.x [-] mail to [email]")
    with pytest.raises(ConfigError):
        app_with(database_url, LOG_LEVEL="LOUD")
    with pytest.raises(ConfigError):
        app_with(database_url, LOG_FORMAT="xml")


@pytest.mark.slow
def test_a_command_logs_json_lines(tmp_path) -> None:
    """`flask mail send` to an SMTP server that is not there: its warning is a JSON line."""
    database = tmp_path / "consular.sqlite3"
    engine = sa.create_engine(f"sqlite:///{database}")
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(OutboxMessage).values(
                message_id="<1@consular.test>",
                kind="code",
                recipient="aigerim@example.com",
                subject="Your code",
                text_body="123456",
                attachments=[],
                status="pending",
                attempts=0,
                next_attempt_at=datetime(2020, 1, 1, tzinfo=UTC),
                created_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
    engine.dispose()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LOG_", "CONSULAR_", "MAIL_"))
    } | {
        "FLASK_APP": "app",
        "SECRET_KEY": "x" * 32,
        "DATABASE_URL": f"sqlite:///{database}",
        "MAIL_SMTP_HOST": "127.0.0.1",
        "MAIL_SMTP_PORT": str(free_port()),
        "MAIL_SMTP_TLS": "none",
        "MAIL_SMTP_TIMEOUT": "2",
    }
    flask = str(Path(sys.executable).parent / "flask")
    done = subprocess.run(
        [flask, "mail", "send"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Nothing listens: the run fails (for cron's mail or the timer's status), logged as JSON.
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    entries = lines("\n".join(t for t in done.stderr.splitlines() if t.startswith("{")))
    (error,) = [entry for entry in entries if entry["logger"] == "consular.cli"]
    assert error["level"] == "ERROR"
    assert error["message"].startswith("mail delivery: the SMTP server is unavailable (")
    assert "Connection refused" in error["message"]
    assert "Error: the SMTP server is unavailable" in done.stderr
    assert "aigerim@example.com" not in done.stderr
