"""Logs as an operator reads them at 3 a.m.: one line per event on standard error, JSON in
production (one object a line, for the journal or a log shipper) or plain text under
`make run`, every line of a request carrying its request id, and no personal data.

The JSON comes from python-json-logger rather than a formatter of our own: it turns the
`extra` fields of a call into keys, keeps exceptions and stack traces inside the line, and
serialises dates and odd values, which a few lines of our own would get wrong at the edges.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from contextvars import ContextVar
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from consular.access_log import redact_tokens

request_id_var: ContextVar[str | None] = ContextVar("consular_request_id", default=None)
request_logger = logging.getLogger("consular.request")

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("json", "text")
# A request id a trusted proxy may hand over: short, and nothing that could forge a log line.
REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")

EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
IIN = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
DEFAULT_PASSPORT_PATTERN = r"[A-Z][0-9]{8}"
# The attributes every record has: what is not among them came as `extra` fields.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
}


def new_request_id() -> str:
    """A random request id (hex: no IIN, e-mail or passport number can be read in it)."""
    return secrets.token_hex(8)


def accepted_request_id(value: str | None) -> str | None:
    """The X-Request-ID a trusted proxy sent, if it looks like one."""
    if value is not None and REQUEST_ID.fullmatch(value):
        return value
    return None


class PersonalDataMask:
    """Replaces e-mail addresses, 12-digit IINs and passport numbers in text."""

    def __init__(self, passport_pattern: str = DEFAULT_PASSPORT_PATTERN) -> None:
        self.passport = re.compile(rf"(?<![A-Za-z0-9])(?:{passport_pattern})(?![A-Za-z0-9])")

    def __call__(self, text: str) -> str:
        text = EMAIL.sub("[email]", text)
        text = IIN.sub("[iin]", text)
        return self.passport.sub("[passport]", text)


class PersonalDataFilter(logging.Filter):
    """The second line of defence: whatever a message, an `extra` field or a traceback says
    (a database error quoting a row, a library's message), no e-mail address, IIN or
    passport number reaches the log. The first line is not to log them at all."""

    def __init__(self, passport_pattern: str = DEFAULT_PASSPORT_PATTERN) -> None:
        super().__init__()
        self.mask = PersonalDataMask(passport_pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, self.mask(value))
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


class RequestIdFilter(logging.Filter):
    """Gives every line written while a request is served that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class StderrHandler(logging.StreamHandler[TextIO]):
    """A handler writing to whatever sys.stderr is when a line is written (as logging's own
    last resort does), not the stream it was when the app was made."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def json_formatter() -> logging.Formatter:
    """One JSON object a line: level, logger, process id, message, the extra fields, time (UTC)."""
    return JsonFormatter(
        "{levelname}{name}{process}{message}",
        style="{",
        timestamp="time",
        rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
        json_ensure_ascii=False,
    )


def text_formatter() -> logging.Formatter:
    """A line for a developer's terminal."""
    return logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        defaults={"request_id": "-"},
    )


def handler(log_format: str, passport_pattern: str = DEFAULT_PASSPORT_PATTERN) -> logging.Handler:
    """The stderr handler with the request id and the mask, in the format asked."""
    stderr = StderrHandler()
    stderr.setFormatter(json_formatter() if log_format == "json" else text_formatter())
    stderr.addFilter(RequestIdFilter())
    stderr.addFilter(PersonalDataFilter(passport_pattern))
    stderr.set_name("consular")
    return stderr


def configure(level: str, log_format: str, passport_pattern: str) -> None:
    """Send every logger's lines (the app's, the libraries', the commands') through one
    handler on the root logger, replacing the one an earlier app of this process set."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "consular":
            root.removeHandler(existing)
    root.addHandler(handler(log_format, passport_pattern))
    root.setLevel(level)


def log_request(
    *,
    method: str,
    endpoint: str,
    path: str,
    status: int,
    duration_ms: float,
    staff_id: int | None,
) -> None:
    """The one line a request leaves, once its response is ready."""
    fields: dict[str, Any] = {
        "method": method,
        "endpoint": endpoint,
        "path": redact_tokens(path),
        "status": status,
        "duration_ms": round(duration_ms, 1),
    }
    if staff_id is not None:
        fields["staff_id"] = staff_id
    request_logger.info(
        "%s %s %s %.1f ms",
        method,
        fields["path"],
        status,
        duration_ms,
        extra=fields,
    )
