"""The access log never holds the token of an e-mailed link (issue 13, finding 8)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from consular.access_log import REDACTED, TokenRedactingLogger, redact_tokens

TOKEN = "OzOaiaNtb1P7a_oqVTqP2klJqNHsTFYxE-5rYzp6Rvc"


def test_each_link_token_is_replaced_and_nothing_else() -> None:
    assert redact_tokens(f"/manage/SEL-7Q4M2P/{TOKEN}") == f"/manage/SEL-7Q4M2P/{REDACTED}"
    assert redact_tokens(f"/waitlist/W-ABC123/{TOKEN}?x=1") == f"/waitlist/W-ABC123/{REDACTED}?x=1"
    assert redact_tokens(f"/lottery/entries/L-1/{TOKEN}") == f"/lottery/entries/L-1/{REDACTED}"
    line = f"GET /manage/SEL-7Q4M2P/{TOKEN} HTTP/1.1"
    assert TOKEN not in redact_tokens(line) and redact_tokens(line).endswith(" HTTP/1.1")
    for kept in ("/waitlist/join/seoul", "/manage", "/book/seoul/time", "/appointment/SEL-1"):
        assert redact_tokens(kept) == kept


def test_gunicorns_access_log_line_holds_no_token() -> None:
    config = Config()
    logger = TokenRedactingLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/manage/SEL-7Q4M2P/{TOKEN}",
        "PATH_INFO": f"/manage/SEL-7Q4M2P/{TOKEN}",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://consular.example/manage/SEL-7Q4M2P/{TOKEN}",
    }
    response = SimpleNamespace(status="302 FOUND", headers=[], sent=0)
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    line = config.access_log_format % atoms
    assert TOKEN not in line and f"/manage/SEL-7Q4M2P/{REDACTED}" in line
    assert TOKEN not in str(atoms)


def test_the_production_settings_use_it() -> None:
    from pathlib import Path

    settings: dict = {}
    exec(Path("gunicorn.conf.py").read_text(), settings)  # noqa: S102 - our own settings file
    assert settings["logger_class"] == "consular.access_log.TokenRedactingLogger"
