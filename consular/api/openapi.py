"""The OpenAPI 3.1 description of API v1, built from the same constants the views use."""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale

from consular.models import Status
from consular.models.i18n import LANGUAGES
from consular.services.booking import MAX_SERVICES_PER_VISIT, REFERENCE_PATTERN, BookingPolicy
from consular.services.details import DETAIL_SETS, TEXT_MAX_LENGTH, DetailField
from consular.services.identity import _LATIN_NAME, _LATIN_OR_CYRILLIC_NAME, NAME_MAX_LENGTH

Schema = dict[str, Any]

# Error codes of the JSON bodies, by where they come from.
HTTP_ERROR_CODES = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "too_large",
    "unsupported_media_type",
    "validation",
    "rate_limited",
    "error",
)
DOMAIN_ERROR_CODES = (
    "slot_unavailable",
    "duplicate_booking",
    "booking_closed",
    "hold_expired",
    "wrong_code",
    "too_many_attempts",
    "invalid_state",
    "cutoff_passed",
)

# The patterns the names are checked with, anchored as JSON Schema patterns are not.
LATIN_NAME = f"^{_LATIN_NAME.pattern}$"
LATIN_OR_CYRILLIC_NAME = f"^{_LATIN_OR_CYRILLIC_NAME.pattern}$"
_IIN = r"^[0-9]{12}$"
_OFFSET_DATE_TIME = (
    "A date and time with its UTC offset (RFC 3339), e.g. `2026-11-30T09:00:00+09:00`."
)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str, **extra: Any) -> dict[str, Any]:
    """A response with a JSON body."""
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _error(description: str, *codes: str, **extra: Any) -> dict[str, Any]:
    """A response whose body is an `Error` with one of the given codes."""
    return _json(
        {"allOf": [_ref("Error"), {"properties": {"error": {"enum": list(codes)}}}]},
        description,
        **extra,
    )


def _detail_value_schema(field: DetailField) -> Schema:
    if field.kind == "name":
        return {"type": "string", "maxLength": NAME_MAX_LENGTH, "pattern": LATIN_OR_CYRILLIC_NAME}
    if field.kind in {"date", "past_date", "future_date"}:
        return {"type": "string", "format": "date"}
    if field.kind == "iin":
        return {"type": "string", "pattern": _IIN}
    if field.kind == "document":
        return {"type": "string", "pattern": "^[A-Za-z0-9]{3,20}$"}
    return {"type": "string", "maxLength": TEXT_MAX_LENGTH}


def _detail_groups(*, for_request: bool) -> dict[str, Schema]:
    """One schema per detail group (spouse, child …), keyed by the group's key."""
    groups: dict[str, Schema] = {}
    for detail_set, set_groups in DETAIL_SETS.items():
        for group in set_groups:
            schema: Schema = {
                "type": "object",
                "title": str(group.label),
                "description": f"Collected when a chosen service has the `{detail_set}` details.",
                "properties": {
                    field.name: {**_detail_value_schema(field), "description": str(field.label)}
                    for field in group.fields
                },
            }
            if for_request:
                schema["required"] = [field.name for field in group.fields if field.required]
                if group.needs_identity:
                    schema["description"] += " Give `iin`, or `foreign_passport` for a foreigner."
            else:
                schema["additionalProperties"] = False
            groups[group.key] = schema
    return groups


def _schemas(passport_pattern: str) -> dict[str, Schema]:
    date_time = {"type": "string", "format": "date-time"}
    return {
        "ErrorCode": {
            "type": "string",
            "description": (
                "A stable, machine-readable error code. The HTTP codes (`not_found`, "
                "`method_not_allowed` …) come with the matching status; the booking codes "
                "(`slot_unavailable`, `hold_expired` …) explain a 409 or 422 in domain terms."
            ),
            "enum": [*HTTP_ERROR_CODES, *DOMAIN_ERROR_CODES],
        },
        "Error": {
            "type": "object",
            "description": (
                "Every error of the API has this shape. `message` is in the request's language "
                "and is meant for people; branch on `error`, never on `message`."
            ),
            "properties": {
                "error": _ref("ErrorCode"),
                "message": {"type": "string"},
                "field": {
                    "type": "string",
                    "description": "The request member the error is about, when there is one.",
                },
            },
            "required": ["error", "message"],
            "additionalProperties": False,
        },
        "ValidationError": {
            "type": "object",
            "description": (
                "The request was understood but some members are wrong. Every problem is "
                "reported at once, so a form can show all of them."
            ),
            "properties": {
                "error": {"const": "validation"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": (
                        "Messages by dotted path of the member, such as `start`, "
                        "`applicant.iin` or `details.spouse.birth_date`."
                    ),
                    "minProperties": 1,
                    "additionalProperties": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                    },
                },
            },
            "required": ["error", "message", "fields"],
            "additionalProperties": False,
        },
        "WrongCodeError": {
            "type": "object",
            "description": (
                "The confirmation code is wrong. Each wrong code counts; when `attempts_left` "
                "reaches 0 the hold is released and the citizen must book again."
            ),
            "properties": {
                "error": {"const": "wrong_code"},
                "message": {"type": "string"},
                "field": {"const": "code"},
                "attempts_left": {"type": "integer", "minimum": 0},
            },
            "required": ["error", "message", "field", "attempts_left"],
            "additionalProperties": False,
        },
        "Office": {
            "type": "object",
            "description": "An office where citizens are served; texts in the request's language.",
            "properties": {
                "code": {"type": "string", "description": "Stable identifier, used in URLs."},
                "name": {"type": "string"},
                "timezone": {
                    "type": "string",
                    "description": "IANA time zone; every time of this office is given in it.",
                    "examples": ["Asia/Seoul"],
                },
                "address": {"type": "string"},
                "phone": {"type": "string", "description": "Empty when not published."},
                "email": {"type": "string", "description": "Empty when not published."},
                "map_url": {"type": "string", "description": "Empty when not published."},
                "slot_minutes": {
                    "type": "integer",
                    "minimum": 5,
                    "maximum": 240,
                    "description": "Length of one slot; a visit takes one or more slots in a row.",
                },
                "booking_open": {
                    "type": "boolean",
                    "description": "False while online booking at this office is suspended.",
                },
                "booking_closed_message": {
                    "type": ["string", "null"],
                    "description": "Why booking is suspended, when the office says so.",
                },
                "is_demo": {
                    "type": "boolean",
                    "description": "True for the demonstration office: its bookings are not real.",
                },
            },
            "required": [
                "code",
                "name",
                "timezone",
                "address",
                "phone",
                "email",
                "map_url",
                "slot_minutes",
                "booking_open",
                "booking_closed_message",
                "is_demo",
            ],
            "additionalProperties": False,
        },
        "Service": {
            "type": "object",
            "description": "A consular service an office offers online, with its booking rules.",
            "properties": {
                "code": {"type": "string", "description": "Stable identifier, used in bookings."},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "duration_minutes": {
                    "type": "integer",
                    "minimum": 5,
                    "maximum": 480,
                    "description": (
                        "Time at the desk. A visit for several services lasts their sum, "
                        "rounded up to whole slots."
                    ),
                },
                "documents": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Documents to bring.",
                },
                "fee": {"type": "string", "description": "The fee as a text, such as `30 USD`."},
                "details": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(DETAIL_SETS)},
                    "description": (
                        "Detail sets to fill in `details` when booking this service; see "
                        "`BookingRequest.details` for the groups of each set."
                    ),
                },
                "min_notice_hours": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "A visit must start at least this many hours from now.",
                },
                "horizon_days": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "A visit may be at most this many days ahead (office's days).",
                },
                "cutoff_hours": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Online cancelling ends this many hours before the visit.",
                },
            },
            "required": [
                "code",
                "name",
                "description",
                "duration_minutes",
                "documents",
                "fee",
                "details",
                "min_notice_hours",
                "horizon_days",
                "cutoff_hours",
            ],
            "additionalProperties": False,
        },
        "Availability": {
            "type": "object",
            "properties": {
                "office": {"type": "string", "description": "The office's code."},
                "timezone": {"type": "string", "description": "The office's IANA time zone."},
                "booking_open": {
                    "type": "boolean",
                    "description": "When false, `slots` is empty: online booking is suspended.",
                },
                "slots": {
                    "type": "array",
                    "description": (
                        "Every start time of a visit for the chosen services, in order. Times the "
                        "notice or horizon rules forbid are left out; full times are listed "
                        "with `available` 0."
                    ),
                    "items": _ref("StartTime"),
                },
            },
            "required": ["office", "timezone", "booking_open", "slots"],
            "additionalProperties": False,
        },
        "StartTime": {
            "type": "object",
            "properties": {
                "start": {**date_time, "description": "Start of the visit, in the office's zone."},
                "end": {**date_time, "description": "End of the visit, in the office's zone."},
                "available": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many more visits can start then (free seats).",
                },
            },
            "required": ["start", "end", "available"],
            "additionalProperties": False,
        },
        "ApplicantInput": {
            "type": "object",
            "description": "The person who will come to the office, as in their passport.",
            "properties": {
                "given_name": {
                    "type": "string",
                    "maxLength": NAME_MAX_LENGTH,
                    "pattern": LATIN_NAME,
                    "description": "Latin letters as in the passport; extra spaces are removed.",
                    "examples": ["Aigerim"],
                },
                "family_name": {
                    "type": "string",
                    "maxLength": NAME_MAX_LENGTH,
                    "pattern": LATIN_NAME,
                    "description": "Latin letters as in the passport; extra spaces are removed.",
                    "examples": ["Nurlanova"],
                },
                "iin": {
                    "type": "string",
                    "pattern": _IIN,
                    "description": "Individual identification number; its check digit must hold.",
                    "examples": ["850502401238"],
                },
                "passport_number": {
                    "type": "string",
                    "description": (
                        "Passport number; spaces and dashes are removed and letters upper-cased, "
                        f"then it must match `{passport_pattern}`."
                    ),
                    "examples": ["N12345678"],
                },
                "email": {
                    "type": "string",
                    "format": "idn-email",
                    "maxLength": 254,
                    "description": "Where the confirmation code and the manage link are sent.",
                    "examples": ["aigerim@example.com"],
                },
                "phone": {
                    "type": "string",
                    "maxLength": 40,
                    "description": (
                        "A phone number as people write it; numbers without a country code are "
                        "read as Korean. Stored in E.164 form."
                    ),
                    "examples": ["010-1234-5678"],
                },
            },
            "required": ["given_name", "family_name", "iin", "passport_number", "email", "phone"],
        },
        "Applicant": {
            "type": "object",
            "description": "The applicant as stored, in normalised form.",
            "properties": {
                "given_name": {"type": "string"},
                "family_name": {"type": "string"},
                "iin": {"type": "string", "pattern": _IIN},
                "passport_number": {"type": "string"},
                "email": {"type": "string", "format": "idn-email"},
                "phone": {
                    "type": "string",
                    "pattern": r"^\+[1-9][0-9]{1,14}$",
                    "description": "E.164.",
                },
            },
            "required": ["given_name", "family_name", "iin", "passport_number", "email", "phone"],
            "additionalProperties": False,
        },
        "DetailsInput": {
            "type": "object",
            "description": (
                "Extra details the chosen services collect (see `Service.details`), by group. "
                "Only the groups of the chosen services are read; others are ignored. Names "
                "may be in Latin or Cyrillic letters."
            ),
            "properties": _detail_groups(for_request=True),
        },
        "Details": {
            "type": "object",
            "description": "The details as stored, cleaned, by group; empty fields are left out.",
            "properties": _detail_groups(for_request=False),
            "additionalProperties": False,
        },
        "BookingRequest": {
            "type": "object",
            "description": (
                "A request to hold a visit. Members not listed here are ignored. Every invalid "
                "member is reported in one 422 answer."
            ),
            "properties": {
                "office": {"type": "string", "description": "The office's code."},
                "services": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": MAX_SERVICES_PER_VISIT,
                    "uniqueItems": True,
                    "description": "Codes of the services for this visit, each once.",
                },
                "start": {
                    "type": "string",
                    "format": "date-time",
                    "description": (
                        f"{_OFFSET_DATE_TIME} Must be one of the `start` times listed by the "
                        "availability of the same services."
                    ),
                },
                "language": {
                    "type": "string",
                    "enum": list(LANGUAGES),
                    "default": "en",
                    "description": "Language of the emails to the applicant.",
                },
                "applicant": _ref("ApplicantInput"),
                "details": _ref("DetailsInput"),
            },
            "required": ["office", "services", "start", "applicant"],
            "examples": [
                {
                    "office": "seoul",
                    "services": ["passport-renewal"],
                    "start": "2026-11-30T09:00:00+09:00",
                    "language": "en",
                    "applicant": {
                        "given_name": "Aigerim",
                        "family_name": "Nurlanova",
                        "iin": "850502401238",
                        "passport_number": "N12345678",
                        "email": "aigerim@example.com",
                        "phone": "010-1234-5678",
                    },
                    "details": {"current_passport": {"expiry_date": "2027-03-01"}},
                }
            ],
        },
        "Hold": {
            "type": "object",
            "description": (
                "A visit held for a short time. It must be confirmed with the code emailed to "
                "the applicant before `hold_expires_at`, or its seats go back on sale."
            ),
            "properties": {
                "reference": _ref("Reference"),
                "status": {"const": "held"},
                "hold_expires_at": {**date_time, "description": "In the office's time zone."},
                "manage_token": {
                    "type": "string",
                    "minLength": 22,
                    "description": (
                        "Secret that lets its holder show and cancel this appointment, as a "
                        "bearer token. It is shown only once and never stored in clear: keep it."
                    ),
                },
                "start": {**date_time, "description": "In the office's time zone."},
                "end": {**date_time, "description": "In the office's time zone."},
            },
            "required": ["reference", "status", "hold_expires_at", "manage_token", "start", "end"],
            "additionalProperties": False,
        },
        "Reference": {
            "type": "string",
            "pattern": f"^{REFERENCE_PATTERN.pattern}$",
            "description": (
                "The appointment's reference: the office's three-letter prefix, a dash and six "
                "letters or digits that cannot be confused when read aloud (no 0, 1, I, L, O)."
            ),
            "examples": ["TAB-7K3M9Q"],
        },
        "AppointmentStatus": {
            "type": "string",
            "enum": [str(status) for status in Status],
            "description": (
                "`held`: waiting for the emailed code; `confirmed`: booked; `cancelled`; "
                "`expired`: a hold that was not confirmed in time."
            ),
        },
        "Appointment": {
            "type": "object",
            "description": "An appointment as its holder sees it. Times are in the office's zone.",
            "properties": {
                "reference": _ref("Reference"),
                "status": _ref("AppointmentStatus"),
                "office": {"type": "string", "description": "The office's code."},
                "services": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "description": "Codes of the services, as booked.",
                },
                "start": date_time,
                "end": date_time,
                "timezone": {"type": "string", "description": "The office's IANA time zone."},
                "language": {"type": "string", "enum": list(LANGUAGES)},
                "applicant": _ref("Applicant"),
                "details": _ref("Details"),
                "hold_expires_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When the hold ends; null unless `status` is `held`.",
                },
                "cancel_deadline": {
                    **date_time,
                    "description": "The last moment the appointment can be cancelled online.",
                },
            },
            "required": [
                "reference",
                "status",
                "office",
                "services",
                "start",
                "end",
                "timezone",
                "language",
                "applicant",
                "details",
                "hold_expires_at",
                "cancel_deadline",
            ],
            "additionalProperties": False,
        },
        "ConfirmRequest": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "pattern": "^[0-9]{6}$",
                    "description": "The 6-digit code emailed to the applicant.",
                    "examples": ["123456"],
                }
            },
            "required": ["code"],
        },
        "CancelRequest": {
            "type": "object",
            "properties": {
                "reason": {
                    "type": "string",
                    "description": (
                        "Why the visit is cancelled: text without NUL characters, kept trimmed "
                        "to 500 characters."
                    ),
                }
            },
        },
    }


def _responses() -> dict[str, Any]:
    return {
        "BadRequest": _error(
            "The body is not a JSON object, or it holds text that cannot be stored: a NUL "
            "character or an unpaired surrogate.",
            "bad_request",
        ),
        "NotFound": _error("There is no such resource.", "not_found"),
        "ValidationFailed": _json(_ref("ValidationError"), "Some members are invalid."),
        "RateLimited": _error(
            "Too many requests from this address; try again later.",
            "rate_limited",
            headers={
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
        ),
        "TooLarge": _error(
            "The body is larger than the server accepts (MAX_CONTENT_LENGTH, 256 KiB by default).",
            "too_large",
        ),
        "MethodNotAllowed": _error(
            "The path exists, but not with this method. Answered for any method that a path "
            "does not list.",
            "method_not_allowed",
            headers={
                "Allow": {
                    "description": "The methods the path supports.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        ),
    }


def _response(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _parameter(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _parameters() -> dict[str, Any]:
    return {
        "Office": {
            "name": "office",
            "in": "path",
            "required": True,
            "description": "The office's code, from `GET /offices`.",
            "schema": {"type": "string"},
            "example": "seoul",
        },
        "Reference": {
            "name": "reference",
            "in": "path",
            "required": True,
            "description": (
                "The appointment's reference. Case does not matter and the dash may be left "
                "out, as when a citizen reads it from a letter."
            ),
            "schema": {"type": "string"},
            "example": "TAB-7K3M9Q",
        },
        "AcceptLanguage": {
            "name": "Accept-Language",
            "in": "header",
            "required": False,
            "description": (
                f"Language of the texts and messages: one of {', '.join(LANGUAGES)}; "
                "English when none of them is acceptable."
            ),
            "schema": {"type": "string"},
            "example": "ru",
        },
    }


def _paths(max_availability_days: int) -> dict[str, Any]:
    language = _parameter("AcceptLanguage")
    managed = [{"manageToken": []}]
    return {
        "/offices": {
            "get": {
                "operationId": "listOffices",
                "tags": ["offices"],
                "summary": "List the offices",
                "description": "Every office, in a stable order, whether booking is open or not.",
                "parameters": [language],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"offices": {"type": "array", "items": _ref("Office")}},
                            "required": ["offices"],
                            "additionalProperties": False,
                        },
                        "The offices.",
                    )
                },
            }
        },
        "/offices/{office}/services": {
            "get": {
                "operationId": "listServices",
                "tags": ["offices"],
                "summary": "List the services an office offers online",
                "description": "Active services of the office, in the order the office sets.",
                "parameters": [_parameter("Office"), language],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"services": {"type": "array", "items": _ref("Service")}},
                            "required": ["services"],
                            "additionalProperties": False,
                        },
                        "The services.",
                    ),
                    "404": _response("NotFound"),
                },
            }
        },
        "/offices/{office}/availability": {
            "get": {
                "operationId": "getAvailability",
                "tags": ["offices"],
                "summary": "List the start times of a visit",
                "description": (
                    "The times at which a visit for all the given services could start, between "
                    "two days of the office's calendar (both included). A visit takes "
                    "consecutive slots, so a longer visit has fewer start times. Times sooner "
                    "than the services' notice or beyond their horizon are left out."
                ),
                "parameters": [
                    _parameter("Office"),
                    {
                        "name": "services",
                        "in": "query",
                        "required": True,
                        "description": (
                            "Codes of the services of the visit, separated by commas, "
                            f"between 1 and {MAX_SERVICES_PER_VISIT}, each once."
                        ),
                        "style": "form",
                        "explode": False,
                        "schema": {
                            "type": "array",
                            "items": {"type": "string", "minLength": 1},
                            "minItems": 1,
                            "maxItems": MAX_SERVICES_PER_VISIT,
                            "uniqueItems": True,
                        },
                        "example": ["passport-renewal"],
                    },
                    {
                        "name": "from",
                        "in": "query",
                        "required": False,
                        "description": "First day, in the office's calendar. Default: today.",
                        "schema": {"type": "string", "format": "date"},
                        "example": "2026-11-30",
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "required": False,
                        "description": (
                            "Last day, included; not before `from`, and at most "
                            f"{max_availability_days} days in all. Default: 13 days after `from`."
                        ),
                        "schema": {"type": "string", "format": "date"},
                        "example": "2026-12-13",
                    },
                    language,
                ],
                "responses": {
                    "200": _json(_ref("Availability"), "The start times."),
                    "404": _response("NotFound"),
                    "422": _response("ValidationFailed"),
                },
            }
        },
        "/appointments": {
            "post": {
                "operationId": "holdAppointment",
                "tags": ["appointments"],
                "summary": "Hold a visit and email the confirmation code",
                "description": (
                    "Takes the seats of the visit for a few minutes and emails a 6-digit code "
                    "to the applicant; confirm with `POST /appointments/{reference}/confirm` "
                    "before `hold_expires_at`. A person (by IIN) can have only one active "
                    "appointment per service. Rate limited per client address."
                ),
                "parameters": [language],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("BookingRequest")}},
                },
                "responses": {
                    "201": _json(_ref("Hold"), "The visit is held."),
                    "400": _response("BadRequest"),
                    "409": _error(
                        "The visit cannot be held: `slot_unavailable` (the time is full or not "
                        "a start time), `duplicate_booking` (the applicant already has an "
                        "active appointment for one of the services) or `booking_closed` "
                        "(online booking at the office is suspended).",
                        "slot_unavailable",
                        "duplicate_booking",
                        "booking_closed",
                    ),
                    "422": _response("ValidationFailed"),
                    "413": _response("TooLarge"),
                    "429": _response("RateLimited"),
                },
            }
        },
        "/appointments/{reference}": {
            "get": {
                "operationId": "getAppointment",
                "tags": ["appointments"],
                "summary": "Show an appointment",
                "description": (
                    "Needs the appointment's manage token. A wrong or missing token gets the "
                    "same 404 as an unknown reference, so references cannot be probed."
                ),
                "security": managed,
                "parameters": [_parameter("Reference"), language],
                "responses": {
                    "200": _json(_ref("Appointment"), "The appointment."),
                    "404": _response("NotFound"),
                },
            }
        },
        "/appointments/{reference}/confirm": {
            "post": {
                "operationId": "confirmAppointment",
                "tags": ["appointments"],
                "summary": "Confirm a hold with the emailed code",
                "description": (
                    "Confirms a held visit and emails the confirmation with a manage link. "
                    "Rate limited per client address."
                ),
                "parameters": [_parameter("Reference"), language],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ConfirmRequest")}},
                },
                "responses": {
                    "200": _json(_ref("Appointment"), "The confirmed appointment."),
                    "400": _response("BadRequest"),
                    "404": _response("NotFound"),
                    "409": _error(
                        "The appointment cannot be confirmed: `hold_expired` (the hold ran out, "
                        "was released after too many wrong codes, or was cancelled) or "
                        "`invalid_state` (it is already confirmed).",
                        "hold_expired",
                        "invalid_state",
                    ),
                    "422": _json(
                        {
                            "oneOf": [_ref("WrongCodeError"), _ref("ValidationError")],
                            "discriminator": {
                                "propertyName": "error",
                                "mapping": {
                                    "wrong_code": "#/components/schemas/WrongCodeError",
                                    "validation": "#/components/schemas/ValidationError",
                                },
                            },
                        },
                        "`wrong_code` with the attempts left, or `validation` when `code` is "
                        "not a string.",
                    ),
                    "413": _response("TooLarge"),
                    "429": _response("RateLimited"),
                },
            }
        },
        "/appointments/{reference}/cancel": {
            "post": {
                "operationId": "cancelAppointment",
                "tags": ["appointments"],
                "summary": "Cancel an appointment",
                "description": (
                    "Needs the appointment's manage token, as for showing it. Cancels a held or "
                    "confirmed appointment until its cancel deadline; its seats go back on sale "
                    "a little later. The body is optional."
                ),
                "security": managed,
                "parameters": [_parameter("Reference"), language],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("CancelRequest")}},
                },
                "responses": {
                    "200": _json(_ref("Appointment"), "The cancelled appointment."),
                    "404": _response("NotFound"),
                    "413": _response("TooLarge"),
                    "409": _error(
                        "The appointment cannot be cancelled: `cutoff_passed` (too close to the "
                        "visit: call the office) or `invalid_state` (it is not active).",
                        "cutoff_passed",
                        "invalid_state",
                    ),
                    "422": _response("ValidationFailed"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "tags": ["meta"],
                "summary": "Describe this API",
                "description": "This OpenAPI 3.1 document.",
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["openapi", "info", "paths"]},
                        "The document.",
                    )
                },
            }
        },
    }


def openapi_document(
    *,
    max_availability_days: int = 92,
    passport_pattern: str = BookingPolicy.passport_pattern,
) -> dict[str, Any]:
    """Return the OpenAPI document of API v1, in English whatever the request's language."""
    with force_locale("en"):
        schemas = _schemas(passport_pattern)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "consular API",
            "version": "1",
            "summary": "Book, confirm and cancel visits to Kazakhstan's consular offices.",
            "description": (
                "Booking goes in three steps: find a start time "
                "(`GET /offices/{office}/availability`), hold it (`POST /appointments`), then "
                "confirm the hold with the 6-digit code emailed to the applicant "
                "(`POST /appointments/{reference}/confirm`). The hold answer carries a manage "
                "token; send it as `Authorization: Bearer <token>` to show or cancel the "
                "appointment.\n\n"
                "Times are given in the office's time zone with their UTC offset. Every "
                "answer, errors included, is JSON; every error has the `Error` shape with a "
                "stable `error` code (a validation error adds `fields`). Any path answers 404 "
                "`not_found` when unknown and 405 `method_not_allowed` (with `Allow`) for a "
                "method it does not list; an unexpected failure answers 500 with `error` "
                "`error`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "tags": [
            {"name": "offices", "description": "Offices, their services and free times."},
            {"name": "appointments", "description": "Holding, confirming and cancelling."},
            {"name": "meta", "description": "This description."},
        ],
        "paths": _paths(max_availability_days),
        "components": {
            "schemas": schemas,
            "responses": _responses(),
            "parameters": _parameters(),
            "securitySchemes": {
                "manageToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "The `manage_token` of the hold answer, or the token in the link of a "
                        "confirmation email."
                    ),
                }
            },
        },
    }
