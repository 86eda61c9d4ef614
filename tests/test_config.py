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
