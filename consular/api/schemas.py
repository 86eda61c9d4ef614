"""The bodies of API v1 as pydantic models; the OpenAPI document's schemas come from them.

Requests are checked by the booking service's own schema (services/booking_request.py); the
answers are built through these models, so that an answer can't drift from its description.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import JsonSchemaMode

from consular.models import Status
from consular.models.i18n import LANGUAGES
from consular.services.booking import REFERENCE_PATTERN
from consular.services.booking_request import (
    IIN_PATTERN,
    ApplicantInput,
    BookingRequestBody,
    Details,
    DetailsInput,
)
from consular.services.details import DETAIL_SETS

REF_TEMPLATE = "#/components/schemas/{model}"

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
    "by_lottery",
    "hold_expired",
    "wrong_code",
    "too_many_attempts",
    "invalid_state",
    "cutoff_passed",
    "proof_of_work_required",
    "proof_of_work_invalid",
)

Language = Literal[LANGUAGES]  # type: ignore[valid-type]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Answer(BaseModel):
    """An answer body: every member is listed, and no other is sent."""

    model_config = ConfigDict(extra="forbid")


# The codes' Literal is built from the two tuples when the module runs, which mypy can't follow.
class ErrorCode(RootModel[Literal[(*HTTP_ERROR_CODES, *DOMAIN_ERROR_CODES)]]):  # type: ignore[valid-type]
    """A stable, machine-readable error code. The HTTP codes (`not_found`,
    `method_not_allowed` …) come with the matching status; the booking codes
    (`slot_unavailable`, `hold_expired` …) explain a 409 or 422 in domain terms."""


class Error(Answer):
    """Every error of the API has this shape. `message` is in the request's language and is
    meant for people; branch on `error`, never on `message`."""

    error: ErrorCode
    message: str
    field: str = Field(
        default=None,  # type: ignore[assignment]
        description="The request member the error is about, when there is one.",
    )


class ValidationErrorBody(Answer):
    """The request was understood but some members are wrong. Every problem is reported at
    once, so a form can show all of them."""

    model_config = ConfigDict(title="ValidationError")

    error: Literal["validation"]
    message: str
    fields: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(
        description=(
            "Messages by dotted path of the member, such as `start`, `applicant.iin` or "
            "`details.spouse.birth_date`."
        ),
        min_length=1,
    )


class WrongCodeError(Answer):
    """The confirmation code is wrong. Each wrong code counts; when `attempts_left` reaches 0
    the hold is released and the citizen must book again."""

    error: Literal["wrong_code"]
    message: str
    field: Literal["code"]
    attempts_left: int = Field(ge=0)


class Office(Answer):
    """An office where citizens are served; texts in the request's language."""

    code: str = Field(description="Stable identifier, used in URLs.")
    name: str
    timezone: str = Field(
        description="IANA time zone; every time of this office is given in it.",
        examples=["Asia/Seoul"],
    )
    address: str
    phone: str = Field(description="Empty when not published.")
    email: str = Field(description="Empty when not published.")
    map_url: str = Field(description="Empty when not published.")
    slot_minutes: int = Field(
        ge=5, le=240, description="Length of one slot; a visit takes one or more slots in a row."
    )
    booking_open: bool = Field(
        description="False while online booking at this office is suspended."
    )
    booking_closed_message: str | None = Field(
        description="Why booking is suspended, when the office says so."
    )
    is_demo: bool = Field(
        description="True for the demonstration office: its bookings are not real."
    )


class Service(Answer):
    """A consular service an office offers online, with its booking rules."""

    code: str = Field(description="Stable identifier, used in bookings.")
    name: str
    description: str
    duration_minutes: int = Field(
        ge=5,
        le=480,
        description=(
            "Time at the desk. A visit for several services lasts their sum, rounded up to "
            "whole slots."
        ),
    )
    documents: list[str] = Field(description="Documents to bring.")
    fee: str = Field(description="The fee as a text, such as `30 USD`.")
    details: list[Literal[tuple(DETAIL_SETS)]] = Field(  # type: ignore[valid-type]
        description=(
            "Detail sets to fill in `details` when booking this service; see "
            "`BookingRequest.details` for the groups of each set."
        )
    )
    min_notice_hours: int = Field(
        ge=0, description="A visit must start at least this many hours from now."
    )
    horizon_days: int = Field(
        ge=1, description="A visit may be at most this many days ahead (office's days)."
    )
    cutoff_hours: int = Field(
        ge=0, description="Online cancelling ends this many hours before the visit."
    )


class StartTime(Answer):
    start: DateTime = Field(description="Start of the visit, in the office's zone.")
    end: DateTime = Field(description="End of the visit, in the office's zone.")
    available: int = Field(ge=0, description="How many more visits can start then (free seats).")


class LotteryPeriod(Answer):
    """Days a lottery gives out: they are not on first-come sale for its services. Citizens
    enter while entries are open; at the draw, seats go to entrants in a random order."""

    first_day: str = Field(json_schema_extra={"format": "date"}, description="Local day.")
    last_day: str = Field(json_schema_extra={"format": "date"}, description="Local day.")
    services: list[str] = Field(description="Codes of the services the lottery gives out.")
    entries_open: DateTime = Field(description="In the office's time zone.")
    entries_close: DateTime = Field(description="In the office's time zone.")
    draw_at: DateTime = Field(description="In the office's time zone.")
    state: Literal["announced", "open", "closed", "drawn"] = Field(
        description="`announced`: entries not open yet; `open`; `closed`: waiting for the "
        "draw; `drawn`: seats are being offered in draw order."
    )
    url: str = Field(description="The lottery's page, where citizens enter.")


class ClosedDay(Answer):
    """A day of the range on which the office is closed (a public holiday or a closure)."""

    day: str = Field(json_schema_extra={"format": "date"}, description="Local day.")
    reason: str | None = Field(
        description=(
            "Why the office is closed, in the asked language where it is known (public "
            "holidays); null when the reason is not public."
        )
    )


class Availability(Answer):
    office: str = Field(description="The office's code.")
    timezone: str = Field(description="The office's IANA time zone.")
    booking_open: bool = Field(
        description="When false, `slots` is empty: online booking is suspended."
    )
    slots: list[StartTime] = Field(
        description=(
            "Every start time of a visit for the chosen services, in order. Times the notice "
            "or horizon rules forbid are left out; full times are listed with `available` 0. "
            "Days a lottery gives out for one of the services are left out (see `lottery`)."
        )
    )
    lottery: list[LotteryPeriod] = Field(
        description="Lotteries that give out days of the range for one of the services."
    )
    closed_days: list[ClosedDay] = Field(
        description="Days of the range on which the office is closed, in order."
    )


class Reference(RootModel[Annotated[str, Field(pattern=f"^{REFERENCE_PATTERN.pattern}$")]]):
    """The appointment's reference: the office's three-letter prefix, a dash and six letters
    or digits that cannot be confused when read aloud (no 0, 1, I, L, O)."""

    model_config = ConfigDict(json_schema_extra={"examples": ["TAB-7K3M9Q"]})


class Hold(Answer):
    """A visit held for a short time. It must be confirmed with the code emailed to the
    applicant before `hold_expires_at`, or its seats go back on sale."""

    reference: Reference
    status: Literal["held"]
    hold_expires_at: DateTime = Field(description="In the office's time zone.")
    manage_token: str = Field(
        min_length=22,
        description=(
            "Secret that lets its holder show and cancel this appointment, as a bearer token. "
            "It is shown only once and never stored in clear: keep it."
        ),
    )
    start: DateTime = Field(description="In the office's time zone.")
    end: DateTime = Field(description="In the office's time zone.")


class AppointmentStatus(RootModel[Literal[tuple(str(s) for s in Status)]]):  # type: ignore[misc]
    """`held`: waiting for the emailed code; `confirmed`: booked; `cancelled`; `expired`: a
    hold that was not confirmed in time."""


class Applicant(Answer):
    """The applicant as stored, in normalised form. Once the appointment is no longer
    ahead (cancelled, expired, missed or served) only the name is shown: the other fields
    are null, and `details` is empty."""

    given_name: str
    family_name: str
    iin: str | None = Field(pattern=IIN_PATTERN)
    passport_number: str | None
    email: str | None = Field(json_schema_extra={"format": "idn-email"})
    phone: str | None = Field(pattern=r"^\+[1-9][0-9]{1,14}$", description="E.164.")


class Appointment(Answer):
    """An appointment as its holder sees it. Times are in the office's zone."""

    reference: Reference
    status: AppointmentStatus
    office: str = Field(description="The office's code.")
    services: list[str] = Field(min_length=1, description="Codes of the services, as booked.")
    start: DateTime
    end: DateTime
    timezone: str = Field(description="The office's IANA time zone.")
    language: Language
    applicant: Applicant
    details: Details  # type: ignore[valid-type]
    hold_expires_at: DateTime | None = Field(
        description="When the hold ends; null unless `status` is `held`."
    )
    cancel_deadline: DateTime = Field(
        description="The last moment the appointment can be cancelled online."
    )


class ChallengeData(Answer):
    """What the challenge is for; signed with it, so it can't be changed."""

    office: str = Field(description="The office's code: the proof is accepted for it alone.")
    office_id: int
    max_number: int = Field(
        ge=1,
        description=(
            "The difficulty: the counter to find is between half of it and it. It rises with "
            "the office's recent holds and with those from the client's network."
        ),
    )
    issued: int = Field(description="When the challenge was made, in Unix seconds.")
    expires: int = Field(
        description=(
            "Unix seconds after which a solution is refused, by the server's clock (the "
            "difference from `issued` is the lifetime, whatever the client's clock says)."
        )
    )


class ChallengeParameters(Answer):
    """The ALTCHA PoW v2 parameters, named as the ALTCHA libraries and widget name them."""

    algorithm: Literal["PBKDF2/SHA-256"]
    nonce: str = Field(description="Hex; the counter, as a big-endian uint32, is appended.")
    salt: str = Field(description="Hex.")
    cost: int = Field(ge=1, description="PBKDF2 iterations of one attempt.")
    keyLength: int = Field(ge=1, description="Bytes of the derived key.")
    keyPrefix: str = Field(
        description="Hex: the derived key of the counter to find starts with it."
    )
    keySignature: str = Field(description="HMAC of the derived key, checked by the server.")
    data: ChallengeData


class Challenge(Answer):
    """A proof-of-work challenge for one hold (ALTCHA PoW v2, deterministic mode).

    Count `counter` from 0 until PBKDF2-SHA-256(password = nonce ‖ counter as a big-endian
    uint32, salt, cost iterations, keyLength bytes) starts with `keyPrefix`. Send
    base64(JSON `{"challenge": {"parameters", "signature"}, "solution": {"counter",
    "derivedKey"}}`) as `proof_of_work` with the hold. ALTCHA's widget and libraries
    (`solve_challenge`, `Payload(...).to_base64()` in Python) do exactly this."""

    parameters: ChallengeParameters
    signature: str = Field(description="HMAC of the parameters.")


class ProofOfWorkInput(BaseModel):
    """The proof of work sent beside a hold (see `GET /challenge`)."""

    proof_of_work: str = Field(
        default=None,  # type: ignore[assignment]
        max_length=4096,
        description=(
            'The solved challenge: base64 of the JSON `{"challenge": {"parameters", '
            '"signature"}, "solution": {"counter", "derivedKey"}}`, as the ALTCHA '
            "widget and libraries produce it. Each one is accepted once, for its office, "
            "until it expires; a refused hold spends it too."
        ),
    )
    device_fingerprint: str = Field(
        default=None,  # type: ignore[assignment]
        pattern="^[0-9a-f]{16,64}$",
        description=(
            "Optional: a hex hash of the device's screen, time zone, languages and platform, "
            "as the booking page sends it. Anything else is ignored."
        ),
    )


class ConfirmRequest(BaseModel):
    code: str = Field(
        pattern="^[0-9]{6}$",
        description="The 6-digit code emailed to the applicant.",
        examples=["123456"],
    )


class CancelRequest(BaseModel):
    reason: str = Field(
        default=None,  # type: ignore[assignment]
        description=(
            "Why the visit is cancelled: text without NUL characters, kept trimmed to 500 "
            "characters."
        ),
    )


def answer(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The JSON of an answer, checked against its model (members left out stay out)."""
    return model.model_validate(values).model_dump(mode="json", exclude_unset=True)


# Requests are described as they are read, answers as they are written.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    BookingRequestBody,
    ApplicantInput,
    DetailsInput,
    ProofOfWorkInput,
    ConfirmRequest,
    CancelRequest,
)
ANSWER_MODELS: tuple[type[BaseModel], ...] = (
    ErrorCode,
    Error,
    ValidationErrorBody,
    WrongCodeError,
    Office,
    Service,
    Availability,
    ClosedDay,
    LotteryPeriod,
    StartTime,
    Hold,
    Challenge,
    Reference,
    AppointmentStatus,
    Applicant,
    Details,
    Appointment,
)


def _tidy(schema: Any) -> Any:
    """Drop pydantic's `default: null` on members that may be left out: it says nothing."""
    if isinstance(schema, dict):
        if "default" in schema and schema["default"] is None:
            schema = {k: v for k, v in schema.items() if k != "default"}
        return {key: _tidy(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    return schema


def component_schemas(passport_pattern: str) -> dict[str, Any]:
    """The `components.schemas` of the OpenAPI document, generated from the models."""
    schemas: dict[str, Any] = {}
    passes: tuple[tuple[tuple[type[BaseModel], ...], JsonSchemaMode], ...] = (
        (REQUEST_MODELS, "validation"),
        (ANSWER_MODELS, "serialization"),
    )
    for models, mode in passes:
        for model in models:
            schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)
            for name, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            # A model's title names it where its class name would clash (BookingRequest).
            schemas[schema.get("title", model.__name__)] = schema
    applicant = schemas["ApplicantInput"]["properties"]["passport_number"]
    applicant["description"] += f" Then it must match `{passport_pattern}`."
    return _tidy(schemas)
