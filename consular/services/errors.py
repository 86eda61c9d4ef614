"""Domain errors that carry what went wrong and where, for forms and the API alike."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """A business rule refused the request; `code` is stable, `message` is translatable."""

    code = "domain_error"
    http_status = 409

    def __init__(self, message: str | LazyString, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    """Several fields are wrong; `fields` maps each to its messages."""

    code = "validation"
    http_status = 422

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("validation failed")
        self.fields = fields


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class SlotUnavailable(DomainError):
    code = "slot_unavailable"


class DuplicateBooking(DomainError):
    code = "duplicate_booking"


class BookingClosed(DomainError):
    code = "booking_closed"


class HoldExpired(DomainError):
    code = "hold_expired"


class WrongCode(DomainError):
    code = "wrong_code"
    http_status = 422

    def __init__(self, message: str | LazyString, attempts_left: int) -> None:
        super().__init__(message, field="code")
        self.attempts_left = attempts_left


class TooManyAttempts(DomainError):
    code = "too_many_attempts"


class InvalidState(DomainError):
    code = "invalid_state"


class CutoffPassed(DomainError):
    code = "cutoff_passed"


class ConcurrentChange(DomainError):
    """Another person's change of the same thing was saved first (a constraint said so)."""

    code = "concurrent_change"

    def __init__(self, field: str | None = None) -> None:
        super().__init__(
            _l("Someone changed this at the same time. Check the form and save again."), field
        )


class ByLottery(DomainError):
    """The time is on a day a lottery gives out: it is not on first-come sale."""

    code = "by_lottery"


class DuplicateEntry(DomainError):
    """The person (by IIN, e-mail address or phone) already has an entry in the release."""

    code = "duplicate_entry"


class EntriesClosed(DomainError):
    """The release does not take entries now (not open yet, closed, drawn or cancelled)."""

    code = "entries_closed"
