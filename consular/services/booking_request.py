"""A booking request as the web form and the API send it: one pydantic schema checks it.

The schema (`BookingRequestBody`) is also what the OpenAPI document describes. Every check
raises our own translated message; pydantic's English messages are never shown: errors that
pydantic finds by itself (a member missing or not an object) get the member's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import sqlalchemy as sa
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    create_model,
)
from pydantic_core import PydanticCustomError

from consular.database import SessionLike
from consular.models import Office, ServiceType
from consular.models.i18n import LANGUAGES
from consular.services.details import DETAIL_SETS, TEXT_MAX_LENGTH, DetailField, clean_details
from consular.services.errors import ValidationFailed
from consular.services.identity import (
    _LATIN_NAME,
    _LATIN_OR_CYRILLIC_NAME,
    NAME_MAX_LENGTH,
    normalize_email,
    normalize_name,
    normalize_passport,
    normalize_phone,
    parse_iin,
)

if TYPE_CHECKING:
    from consular.services.booking import BookingPolicy

MAX_SERVICES_PER_VISIT = 5
LATIN_NAME = f"^{_LATIN_NAME.pattern}$"  # anchored, as JSON Schema patterns are not
LATIN_OR_CYRILLIC_NAME = f"^{_LATIN_OR_CYRILLIC_NAME.pattern}$"
IIN_PATTERN = r"^[0-9]{12}$"
OFFSET_DATE_TIME = (
    "A date and time with its UTC offset (RFC 3339), e.g. `2026-11-30T09:00:00+09:00`."
)
# Our own error type: its context carries the translated message, or the messages by path.
_ERROR_TYPE = "consular"

SERVICES_COUNT_MESSAGE = _l("Choose between one and five services.")
APPLICANT_MESSAGES: dict[str, LazyString] = {
    "given_name": _l("Enter the given name in Latin letters, as in the passport."),
    "family_name": _l("Enter the family name in Latin letters, as in the passport."),
    "iin": _l("Enter a valid 12-digit IIN."),
    "passport_number": _l("Enter the passport number: one letter and 8 digits, e.g. N12345678."),
    "email": _l("Enter an email address such as name@example.com."),
    "phone": _l("Enter a phone number such as 010-1234-5678 or +82 10 1234 5678."),
}
# The message of each member when pydantic itself refuses it (missing, or not an object).
MEMBER_MESSAGES: dict[str, LazyString] = {
    "office": _l("Choose one of the offices."),
    "services": SERVICES_COUNT_MESSAGE,
    "start": _l("Give the start time with its UTC offset, e.g. 2026-12-01T09:00:00+09:00."),
    "language": _l("Choose one of: kk, ru, en, ko."),
    "applicant": _l("Give the applicant's details."),
    **{f"applicant.{name}": message for name, message in APPLICANT_MESSAGES.items()},
}


def online_services_query(
    office_id: int, *, with_staff_only: bool = False
) -> sa.Select[tuple[ServiceType]]:
    """The active services an office offers for booking online, in display order (with those
    only staff may book, when asked)."""
    query = sa.select(ServiceType).where(
        ServiceType.is_active.is_(True), ServiceType.offices.any(Office.id == office_id)
    )
    if not with_staff_only:
        query = query.where(ServiceType.is_online.is_(True))
    return query.order_by(ServiceType.sort_order, ServiceType.id)


def combination_problem(services: list[ServiceType], locale: str | None = None) -> str | None:
    """Why these services can't share one visit, or None when every pair may be combined."""
    for index, first in enumerate(services):
        for second in services[index + 1 :]:
            if not first.can_combine_with(second):
                return _(
                    "%(first)s and %(second)s can't be booked in the same visit. "
                    "Please book them separately.",
                    first=first.display_name(locale or "en"),
                    second=second.display_name(locale or "en"),
                )
    return None


def service_codes_problem(codes: list[str]) -> str | None:
    """Why a visit can't be for these service codes (how many, each once), or None.

    The one rule of the web pages, the availability query and the booking request.
    """
    if not 1 <= len(codes) <= MAX_SERVICES_PER_VISIT:
        return str(SERVICES_COUNT_MESSAGE)
    if len(set(codes)) != len(codes):
        return _("Choose each service only once.")
    return None


@dataclass(frozen=True)
class Applicant:
    given_name: str
    family_name: str
    iin: str
    passport_number: str
    email: str
    phone: str


@dataclass(frozen=True)
class BookingRequest:
    """A checked booking request, with the office and services it names."""

    office: Office
    services: list[ServiceType]
    starts_at: datetime
    applicant: Applicant
    language: str
    details: dict[str, Any] = field(default_factory=dict)


def _refuse(message: str) -> NoReturn:
    raise PydanticCustomError(_ERROR_TYPE, "{message}", {"message": message})


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    return info.context or {}


def _checked_text(clean: Callable[[str], str | None], message: LazyString) -> PlainValidator:
    """A validator that accepts a string `clean` can tidy, and refuses anything else."""

    def validate(value: Any) -> str:
        cleaned = clean(value) if isinstance(value, str) else None
        if cleaned is None:
            _refuse(str(message))
        return cleaned

    return PlainValidator(validate, json_schema_input_type=str)


def _valid_iin(value: str) -> str | None:
    value = value.strip()
    return value if parse_iin(value) else None


def _email(value: Any, info: ValidationInfo) -> str:
    # A caller booked by staff may have no address: the clerk tells them the reference.
    if _context(info).get("by_staff") and isinstance(value, str) and not value.strip():
        return ""
    cleaned = normalize_email(value) if isinstance(value, str) else None
    if cleaned is None:
        _refuse(str(APPLICANT_MESSAGES["email"]))
    return cleaned


def _passport(value: Any, info: ValidationInfo) -> str:
    pattern = _context(info).get("passport_pattern", r"[A-Z][0-9]{8}")
    cleaned = normalize_passport(value, pattern) if isinstance(value, str) else None
    if cleaned is None:
        _refuse(str(APPLICANT_MESSAGES["passport_number"]))
    return cleaned


def _name_schema(example: str) -> dict[str, Any]:
    return {"maxLength": NAME_MAX_LENGTH, "pattern": LATIN_NAME, "examples": [example]}


class ApplicantInput(BaseModel):
    """The person who will come to the office, as in their passport."""

    given_name: Annotated[
        str,
        _checked_text(normalize_name, APPLICANT_MESSAGES["given_name"]),
        Field(
            description="Latin letters as in the passport; extra spaces are removed.",
            json_schema_extra=_name_schema("Aigerim"),
        ),
    ]
    family_name: Annotated[
        str,
        _checked_text(normalize_name, APPLICANT_MESSAGES["family_name"]),
        Field(
            description="Latin letters as in the passport; extra spaces are removed.",
            json_schema_extra=_name_schema("Nurlanova"),
        ),
    ]
    iin: Annotated[
        str,
        _checked_text(_valid_iin, APPLICANT_MESSAGES["iin"]),
        Field(
            description="Individual identification number; its check digit must hold.",
            json_schema_extra={"pattern": IIN_PATTERN, "examples": ["850502401238"]},
        ),
    ]
    passport_number: Annotated[
        str,
        PlainValidator(_passport, json_schema_input_type=str),
        Field(
            # The OpenAPI document adds the configured pattern to this description.
            description="Passport number; spaces and dashes are removed and letters upper-cased.",
            json_schema_extra={"examples": ["N12345678"]},
        ),
    ]
    email: Annotated[
        str,
        PlainValidator(_email, json_schema_input_type=str),
        Field(
            description="Where the confirmation code and the manage link are sent.",
            json_schema_extra={
                "format": "idn-email",
                "maxLength": 254,
                "examples": ["aigerim@example.com"],
            },
        ),
    ]
    phone: Annotated[
        str,
        _checked_text(normalize_phone, APPLICANT_MESSAGES["phone"]),
        Field(
            description=(
                "A phone number as people write it; numbers without a country code are "
                "read as Korean. Stored in E.164 form."
            ),
            json_schema_extra={"maxLength": 40, "examples": ["010-1234-5678"]},
        ),
    ]


def detail_value_schema(detail: DetailField) -> dict[str, Any]:
    """The JSON Schema of one detail's value, as its kind accepts it."""
    if detail.kind == "name":
        return {"type": "string", "maxLength": NAME_MAX_LENGTH, "pattern": LATIN_OR_CYRILLIC_NAME}
    if detail.kind in {"date", "past_date", "future_date"}:
        return {"type": "string", "format": "date"}
    if detail.kind == "iin":
        return {"type": "string", "pattern": IIN_PATTERN}
    if detail.kind == "document":
        return {"type": "string", "pattern": "^[A-Za-z0-9]{3,20}$"}
    if detail.kind == "flag":
        return {"type": "string", "enum": ["yes", ""]}
    return {"type": "string", "maxLength": TEXT_MAX_LENGTH}


def _without_defaults(schema: dict[str, Any]) -> None:
    """Leave out the `default: null` of members that may be left out, which says nothing."""
    for member in schema.get("properties", {}).values():
        if member.get("default", ...) is None:
            del member["default"]


def _stored(schema: dict[str, Any]) -> None:
    """Stored details were cleaned: they have no other members (any other is left out)."""
    _without_defaults(schema)
    schema["additionalProperties"] = False


def _titled(titles: dict[str, str], *, stored: bool) -> Callable[[dict[str, Any]], None]:
    """Name each group where it is used too: pydantic leaves a reference bare."""

    def finish(schema: dict[str, Any]) -> None:
        (_stored if stored else _without_defaults)(schema)
        for key, title in titles.items():
            schema["properties"][key]["title"] = title

    return finish


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def _details_models(*, for_request: bool) -> type[BaseModel]:
    """A model of the details by group (spouse, child …), made from DETAIL_SETS."""
    groups: dict[str, Any] = {}
    titles: dict[str, str] = {}
    for detail_set, set_groups in DETAIL_SETS.items():
        for group in set_groups:
            description = f"Collected when a chosen service has the `{detail_set}` details."
            if for_request and group.needs_identity:
                description += " Give `iin`, or `foreign_passport` for a foreigner."
            members: dict[str, Any] = {
                detail.name: (
                    Annotated[
                        str,
                        Field(
                            description=str(detail.label),
                            json_schema_extra=detail_value_schema(detail),
                        ),
                    ],
                    ... if for_request and detail.required else None,
                )
                for detail in group.fields
            }
            model = create_model(
                f"{_camel(group.key)}{'Input' if for_request else ''}",
                __config__=ConfigDict(
                    title=str(group.label),
                    json_schema_extra=_without_defaults if for_request else _stored,
                ),
                **members,
            )
            model.__doc__ = description
            groups[group.key] = (model, None)
            titles[group.key] = str(group.label)
    if for_request:
        doc = (
            "Extra details the chosen services collect (see `Service.details`), by group. "
            "Only the groups of the chosen services are read; others are ignored. Names "
            "may be in Latin or Cyrillic letters."
        )
    else:
        doc = "The details as stored, cleaned, by group; empty fields are left out."
    details = create_model(
        "DetailsInput" if for_request else "Details",
        __config__=ConfigDict(json_schema_extra=_titled(titles, stored=not for_request)),
        **groups,
    )
    details.__doc__ = doc
    return details


DetailsInput = _details_models(for_request=True)
Details = _details_models(for_request=False)


def _office(value: Any, info: ValidationInfo) -> Office:
    session: SessionLike = _context(info)["session"]
    office = (
        session.scalar(sa.select(Office).where(Office.code == value))
        if isinstance(value, str) and value
        else None
    )
    if office is None:
        _refuse(str(MEMBER_MESSAGES["office"]))
    return office


def _services(value: Any, info: ValidationInfo) -> list[ServiceType]:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        _refuse(str(SERVICES_COUNT_MESSAGE))
    problem = service_codes_problem(value)
    if problem:
        _refuse(problem)
    office = info.data.get("office")
    if office is None:
        return []  # the office's own message says what is wrong
    session: SessionLike = _context(info)["session"]
    found = {
        s.code: s
        for s in session.scalars(
            online_services_query(
                office.id, with_staff_only=bool(_context(info).get("by_staff"))
            ).where(ServiceType.code.in_(value))
        )
    }
    missing = [code for code in value if code not in found]
    if missing:
        _refuse(_("This office does not offer: %(codes)s.", codes=", ".join(missing)))
    services = [found[code] for code in value]
    problem = combination_problem(services, info.data.get("language"))
    if problem:
        _refuse(problem)
    return services


def read_start(value: Any) -> datetime | None:
    """A request's start time, if it is an ISO 8601 time with its offset; else None."""
    try:
        starts_at = datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
    # In the first or last year of the calendar, a change of time zone would overflow it.
    if starts_at is None or starts_at.tzinfo is None or not MINYEAR < starts_at.year < MAXYEAR:
        return None
    return starts_at


def _start(value: Any) -> datetime:
    starts_at = read_start(value)
    if starts_at is None:
        _refuse(str(MEMBER_MESSAGES["start"]))
    return starts_at


def _details(value: Any, info: ValidationInfo) -> dict[str, dict[str, str]]:
    services: list[ServiceType] = info.data.get("services", [])
    office: Office | None = info.data.get("office")
    now: datetime = _context(info)["now"]
    # "Today" is the office's: between 00:00 and 09:00 in Seoul, UTC is still on yesterday.
    today = now.astimezone(office.zone).date() if office is not None else now.date()
    detail_sets = sorted({name for s in services for name in s.detail_sets})
    cleaned, errors = clean_details(detail_sets, value, today)
    if errors:
        raise PydanticCustomError(_ERROR_TYPE, "details", {"fields": errors})
    return cleaned


def _language(value: Any) -> str:
    if value not in LANGUAGES:
        _refuse(str(MEMBER_MESSAGES["language"]))
    return str(value)


class BookingRequestBody(BaseModel):
    """A request to hold a visit. Members not listed here are ignored. Every invalid member is
    reported in one 422 answer."""

    model_config = ConfigDict(
        title="BookingRequest",
        arbitrary_types_allowed=True,
        json_schema_extra={
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
            ]
        },
    )

    # Validated in this order: services need the office and language, details the services.
    office: Annotated[
        Office,
        PlainValidator(_office, json_schema_input_type=str),
        Field(description="The office's code."),
    ]
    language: Annotated[
        str,
        PlainValidator(_language, json_schema_input_type=Literal[LANGUAGES]),
        Field(description="Language of the emails to the applicant."),
    ] = "en"
    services: Annotated[
        list[ServiceType],
        PlainValidator(_services, json_schema_input_type=list[str]),
        Field(
            description="Codes of the services for this visit, each once.",
            json_schema_extra={
                "minItems": 1,
                "maxItems": MAX_SERVICES_PER_VISIT,
                "uniqueItems": True,
            },
        ),
    ]
    start: Annotated[
        datetime,
        PlainValidator(_start, json_schema_input_type=str),
        Field(
            description=(
                f"{OFFSET_DATE_TIME} Must be one of the `start` times listed by the "
                "availability of the same services."
            ),
            json_schema_extra={"format": "date-time"},
        ),
    ]
    applicant: ApplicantInput
    details: Annotated[
        dict[str, dict[str, str]],
        PlainValidator(_details, json_schema_input_type=DetailsInput),
    ] = Field(default=None, validate_default=True)


def _member_path(location: tuple[int | str, ...]) -> str:
    """The dotted path of a member, up to the first list index: `services.2` is `services`."""
    names: list[str] = []
    for part in location:
        if not isinstance(part, str):
            break
        names.append(part)
    return ".".join(names)


def translated_errors(error: ValidationError) -> dict[str, list[str]]:
    """Our messages by member path for pydantic's errors, in the order pydantic found them."""
    fields: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        messages = fields.setdefault(path, [])
        if message not in messages:
            messages.append(message)

    for problem in error.errors(include_url=False, include_input=False):
        context = problem.get("ctx") or {}
        path = _member_path(problem["loc"])
        if problem["type"] == _ERROR_TYPE and "fields" in context:
            for detail_path, messages in context["fields"].items():
                for message in messages:
                    add(detail_path, message)
        elif problem["type"] == _ERROR_TYPE:
            add(path, context["message"])
        else:
            # Missing, or not an object: the member's own message, never pydantic's text.
            known = path if path in MEMBER_MESSAGES else path.split(".")[0]
            add(known, str(MEMBER_MESSAGES.get(known, MEMBER_MESSAGES["applicant"])))
    return fields


def parse_booking_request(
    session: SessionLike,
    data: Mapping[str, Any],
    now: datetime,
    policy: BookingPolicy,
    *,
    by_staff: bool = False,
) -> BookingRequest:
    """Check a booking request member by member; raise ValidationFailed with every problem.

    A request `by_staff` may name the services only staff book, and may leave out the email."""
    try:
        body = BookingRequestBody.model_validate(
            data,
            context={
                "session": session,
                "now": now,
                "passport_pattern": policy.passport_pattern,
                "by_staff": by_staff,
            },
        )
    except ValidationError as error:
        raise ValidationFailed(translated_errors(error)) from None
    applicant = body.applicant
    return BookingRequest(
        office=body.office,
        services=body.services,
        starts_at=body.start,
        applicant=Applicant(
            applicant.given_name,
            applicant.family_name,
            applicant.iin,
            applicant.passport_number,
            applicant.email,
            applicant.phone,
        ),
        language=body.language,
        details=body.details,
    )
