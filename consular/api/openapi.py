"""The OpenAPI 3.1 description of API v1: paths and answers here, schemas from the models."""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale

from consular.api.schemas import component_schemas
from consular.models.i18n import LANGUAGES
from consular.services.booking import BookingPolicy
from consular.services.booking_request import MAX_SERVICES_PER_VISIT

Schema = dict[str, Any]


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


def _hold_request(proof_of_work: bool) -> Schema:
    """The body of a hold: the booking and, when the server asks for it, the proof of work."""
    schemas: list[Schema] = [_ref("BookingRequest"), _ref("ProofOfWorkInput")]
    if proof_of_work:
        schemas.append({"required": ["proof_of_work"]})
    return {"allOf": schemas}


def _paths(max_availability_days: int, proof_of_work: bool) -> dict[str, Any]:
    language = _parameter("AcceptLanguage")
    managed: list[dict[str, list[str]]] = [{"manageToken": []}]
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
        "/challenge": {
            "get": {
                "operationId": "getChallenge",
                "tags": ["appointments"],
                "summary": "Get a proof-of-work challenge for a hold",
                "description": (
                    "Every hold needs a solved challenge of its office (`proof_of_work`). "
                    "Solving one costs a person's phone about a second at normal load; the "
                    "difficulty rises with the office's holds of the last minutes and with "
                    "those from the client's network. A challenge expires after a few "
                    "minutes (`data.expires`) and is accepted once. Rate limited per client "
                    "address."
                ),
                "parameters": [
                    {
                        "name": "office",
                        "in": "query",
                        "required": True,
                        "description": "The office's code, from `GET /offices`.",
                        "schema": {"type": "string"},
                        "example": "seoul",
                    },
                    language,
                ],
                "responses": {
                    "200": _json(
                        _ref("Challenge"),
                        "The challenge.",
                        headers={
                            "Cache-Control": {
                                "description": "`no-store`: each challenge serves one hold.",
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    "404": _response("NotFound"),
                    "429": _response("RateLimited"),
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
                    "appointment per service. Needs a solved challenge of `GET /challenge` "
                    "for the same office in `proof_of_work` (unless the server has proof of "
                    "work turned off); it is checked before anything else and spent even "
                    "when the hold is then refused. Rate limited per client address."
                ),
                "parameters": [language],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _hold_request(proof_of_work)}},
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
                    "422": _json(
                        {
                            "oneOf": [
                                _ref("ValidationError"),
                                {
                                    "allOf": [
                                        _ref("Error"),
                                        {
                                            "properties": {
                                                "error": {
                                                    "enum": [
                                                        "proof_of_work_required",
                                                        "proof_of_work_invalid",
                                                    ]
                                                },
                                                "field": {"const": "proof_of_work"},
                                            },
                                            "required": ["field"],
                                        },
                                    ]
                                },
                            ]
                        },
                        "`validation` when some members are wrong; `proof_of_work_required` "
                        "when `proof_of_work` is missing; `proof_of_work_invalid` when it is "
                        "not a correct solution of one of our challenges for this office, or "
                        "has expired, was already used, or was solved at less than half of "
                        "the difficulty now asked (get a new challenge).",
                    ),
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
                    "404": _error(
                        "No hold waits for a code under this reference: `not_found`, the same "
                        "answer whether the reference is unknown, already confirmed, cancelled, "
                        "or its hold ran out or was released after too many wrong codes, so "
                        "that confirming reveals no reference. Book again.",
                        "not_found",
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
    proof_of_work: bool = True,
) -> dict[str, Any]:
    """Return the OpenAPI document of API v1, in English whatever the request's language."""
    with force_locale("en"):
        schemas = component_schemas(passport_pattern)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "consular API",
            "version": "1",
            "summary": "Book, confirm and cancel visits to Kazakhstan's consular offices.",
            "description": (
                "Booking goes in three steps: find a start time "
                "(`GET /offices/{office}/availability`), hold it (`POST /appointments`, with "
                "a solved proof-of-work challenge from `GET /challenge`), then "
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
        "paths": _paths(max_availability_days, proof_of_work),
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
