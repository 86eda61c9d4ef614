"""Configuration: safe defaults and a refusal to run in production without a secret key."""

from __future__ import annotations

import pytest

from consular import create_app
from consular.config import ConfigError


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CONSULAR_DEBUG", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_environment_settings_are_read(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("HOLD_MINUTES", "7")
    monkeypatch.setenv("RELEASE_DELAY_MINUTES", "45")
    monkeypatch.setenv("SLOT_HORIZON_DAYS", "90")
    monkeypatch.setenv("MAIL_SMTP_HOST", "smtp.example.org")
    app = create_app()
    assert app.config["HOLD_MINUTES"] == 7
    assert app.config["RELEASE_DELAY_MINUTES"] == 45
    assert app.config["SLOT_HORIZON_DAYS"] == 90
    assert app.config["MAIL_DEV_MAILBOX"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_a_bad_number_is_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("HOLD_MINUTES", "ten")
    with pytest.raises(ConfigError, match="HOLD_MINUTES"):
        create_app()


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("PROXY_COUNT", "1")
    app = create_app()
    seen = {}

    @app.get("/whoami")
    def whoami() -> str:
        from flask import request

        seen["address"] = request.remote_addr
        return ""

    app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"})
    assert seen["address"] == "203.0.113.7"


def test_proof_of_work_is_on_unless_turned_off(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.delenv("POW_ENABLED", raising=False)
    assert create_app().config["POW_ENABLED"] is True
    monkeypatch.setenv("POW_ENABLED", "0")
    assert create_app().config["POW_ENABLED"] is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POW_BASE_MAX_NUMBER", "0"),
        ("POW_BASE_MAX_NUMBER", "100000000"),
        ("POW_COST", "ten"),
        ("POW_EXPIRY_SECONDS", "5"),
        ("POW_NETWORK_MAX_FACTOR", "0"),
    ],
)
def test_proof_of_work_settings_that_would_break_holds_are_refused(
    monkeypatch, tmp_path, name, value
) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        create_app()


# Debug mode is for one developer's machine (issue 13, finding 1).


def test_the_development_secret_is_random_private_and_kept_per_instance_folder(tmp_path) -> None:
    import stat

    from consular.config import DEV_SECRET_FILE, development_secret

    first = development_secret(str(tmp_path))
    assert len(first) == 64 and int(first, 16)
    assert first != "dev-only-not-secret"
    assert development_secret(str(tmp_path)) == first  # sessions survive a restart
    mode = stat.S_IMODE((tmp_path / DEV_SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    other = tmp_path / "other"
    other.mkdir()
    assert development_secret(str(other)) != first


def _debug_app(monkeypatch, tmp_path, **config):
    from consular import config as settings

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(settings, "development_secret", lambda _path: "d" * 64)
    return create_app(
        {
            "DEBUG_MODE": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
            "MAIL_SMTP_HOST": "",
            "MAIL_DEV_MAILBOX": True,
            **config,
        }
    )


def test_debug_mode_signs_with_the_instances_own_secret(monkeypatch, tmp_path) -> None:
    app = _debug_app(monkeypatch, tmp_path)
    assert app.config["SECRET_KEY"] == "d" * 64


def test_debug_mode_answers_only_this_machine_whatever_a_header_claims(
    monkeypatch, tmp_path
) -> None:
    app = _debug_app(monkeypatch, tmp_path, PROXY_COUNT=1)
    client = app.test_client()
    assert client.get("/favicon.ico", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 301
    assert client.get("/favicon.ico", environ_base={"REMOTE_ADDR": "::1"}).status_code == 301
    afar = client.get("/favicon.ico", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert afar.status_code == 403 and "127.0.0.1" in afar.text
    forged = client.get(
        "/dev/mailbox",
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
        headers={"X-Forwarded-For": "127.0.0.1"},
    )
    assert forged.status_code == 403


def test_the_development_mailbox_is_never_served_outside_development(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.delenv("CONSULAR_DEBUG", raising=False)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
            "MAIL_SMTP_HOST": "",
            "MAIL_DEV_MAILBOX": True,
        }
    )
    loopback = {"REMOTE_ADDR": "127.0.0.1"}
    assert app.test_client().get("/dev/mailbox", environ_base=loopback).status_code == 404
