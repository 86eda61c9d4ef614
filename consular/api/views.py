"""Views of the JSON API; each parses, calls one service, commits once and answers."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, jsonify, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from consular import availability_cache
from consular.api import bp, schemas
from consular.api.openapi import openapi_document
from consular.clients import client_of
from consular.clock import now as now_utc
from consular.extensions import db, limiter
from consular.models import Appointment, Office, ServiceType, Status
from consular.models.i18n import localized, localized_list
from consular.rate_limits import limit_holds, limit_looks
from consular.services import booking, booking_request, proof_of_work, schedule, suspicion
from consular.services.availability import VisitRules, visit_start_times
from consular.services.errors import (
    DomainError,
    HoldExpired,
    InvalidState,
    NotFound,
    ValidationFailed,
    WrongCode,
)
from consular.services.lottery_days import covering_releases
from consular.transaction import atomic, transaction

MAX_AVAILABILITY_DAYS = 92
# PostgreSQL cannot hold a NUL character, and an unpaired surrogate cannot be encoded at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def booking_policy() -> booking.BookingPolicy:
    """The booking settings of this app."""
    return booking.policy_from_config(current_app.config)


def error_response(error: DomainError) -> tuple[Response, int]:
    """The JSON body and status of a domain error."""
    body: dict[str, Any] = {"error": error.code, "message": str(error.message)}
    if isinstance(error, ValidationFailed):
        body["fields"] = error.fields
    elif error.field:
        body["field"] = error.field
    if isinstance(error, WrongCode):
        body["attempts_left"] = error.attempts_left
    return jsonify(body), error.http_status


@bp.errorhandler(DomainError)
def handle_domain_error(error: DomainError) -> tuple[Response, int]:
    """Answer a refusal as JSON; `atomic()` has already rolled its writes back."""
    return error_response(error)


def _locale() -> str:
    return str(get_locale() or "en")


def _iso(moment: datetime, office: Office) -> str:
    return moment.astimezone(office.zone).isoformat()


def _is_text(value: str) -> bool:
    """Whether a string can be stored or looked up: no NUL character, no unpaired surrogate."""
    return not _UNSTORABLE.search(value)


def _holds_only_text(data: Any) -> bool:
    """Whether every key and string in a JSON value is storable text (walked without recursion)."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not _is_text(item):
                return False
        elif isinstance(item, dict):
            if not all(_is_text(key) for key in item):
                return False
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _office_or_404(code: str) -> Office:
    office = (
        db.session.scalar(sa.select(Office).where(Office.code == code)) if _is_text(code) else None
    )
    if office is None:
        raise NotFound(_("There is no office with this code."))
    return office


def office_json(office: Office, locale: str) -> dict[str, Any]:
    """An office as the API shows it."""
    return schemas.answer(
        schemas.Office,
        {
            "code": office.code,
            "name": localized(office.name, locale),
            "timezone": office.timezone,
            "address": localized(office.address, locale),
            "phone": office.phone,
            "email": office.email,
            "map_url": office.map_url,
            "slot_minutes": office.slot_minutes,
            "booking_open": office.booking_open,
            "booking_closed_message": localized(office.booking_closed_message, locale) or None,
            "is_demo": office.is_demo,
        },
    )


def service_json(service: ServiceType, locale: str) -> dict[str, Any]:
    """A service as the API shows it."""
    return schemas.answer(
        schemas.Service,
        {
            "code": service.code,
            "name": localized(service.name, locale),
            "description": localized(service.description, locale),
            "duration_minutes": service.duration_minutes,
            "documents": localized_list(service.documents, locale),
            "fee": localized(service.fee, locale),
            "details": list(service.detail_sets),
            "min_notice_hours": service.min_notice_hours,
            "horizon_days": service.horizon_days,
            "cutoff_hours": service.cutoff_hours,
        },
    )


def appointment_json(appointment: Appointment, now: datetime) -> dict[str, Any]:
    office = appointment.office
    status = booking.effective_status(appointment, now)
    ahead = status in (Status.HELD, Status.CONFIRMED, Status.CHECKED_IN)
    body: dict[str, Any] = {
        "reference": appointment.reference,
        "status": str(status),
        "office": office.code,
        "services": [line.snapshot.get("code") for line in appointment.service_lines],
        "start": _iso(appointment.starts_at, office),
        "end": _iso(appointment.ends_at, office),
        "timezone": office.timezone,
        "language": appointment.language,
        "applicant": {
            "given_name": appointment.given_name,
            "family_name": appointment.family_name,
            # Once the visit is no longer ahead, its link shows what the holder still needs
            # (when, where, what), not the identity documents.
            **dict.fromkeys(("iin", "passport_number", "email", "phone"), None),
            **(
                {
                    "iin": appointment.iin,
                    "passport_number": appointment.passport_number,
                    "email": appointment.email,
                    "phone": appointment.phone,
                }
                if ahead
                else {}
            ),
        },
        "details": appointment.details if ahead else {},
        "hold_expires_at": (
            _iso(appointment.hold_expires_at, office) if status == "held" else None
        ),
        "cancel_deadline": _iso(booking.cancellation_deadline(appointment), office),
    }
    return schemas.answer(schemas.Appointment, body)


def _json_body() -> Any:
    """The request's JSON, or None when the body is not JSON."""
    try:
        return request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes
        return None


def _json_object() -> dict[str, Any]:
    data = _json_body()
    if not isinstance(data, dict) or not _holds_only_text(data):
        raise BadJson()
    return data


class BadJson(DomainError):
    code = "bad_request"
    http_status = 400

    def __init__(self) -> None:
        super().__init__(_("The request body must be a JSON object."))


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@bp.get("/openapi.json")
def openapi() -> Response:
    """Describe this API as an OpenAPI 3.1 document."""
    return jsonify(
        openapi_document(
            max_availability_days=MAX_AVAILABILITY_DAYS,
            passport_pattern=current_app.config["PASSPORT_PATTERN"],
            proof_of_work=current_app.config["POW_ENABLED"],
        )
    )


@bp.get("/offices")
def list_offices() -> Response:
    """List the offices."""
    offices = db.session.scalars(sa.select(Office).order_by(Office.id))
    return jsonify({"offices": [office_json(o, _locale()) for o in offices]})


@bp.get("/offices/<code>/services")
def list_services(code: str) -> Response:
    """List the services an office offers online."""
    office = _office_or_404(code)
    services = db.session.scalars(booking.online_services_query(office.id))
    return jsonify({"services": [service_json(s, _locale()) for s in services]})


def _parse_day(name: str, default: date) -> date:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed({name: [_("Give a date as YYYY-MM-DD.")]}) from None


@bp.get("/offices/<code>/availability")
@limit_looks
def availability(code: str) -> Response:
    """List the start times of a visit for the given services in a range of days."""
    now = now_utc()
    # The answer depends on nothing else than these (and the time), so it may be shared.
    key = json.dumps(
        [code, *(request.args.get(name, "") for name in ("services", "from", "to")), _locale()]
    )
    body = availability_cache.cached_answer(key, now, lambda: _availability_body(code, now))
    return current_app.response_class(body, mimetype="application/json")


def _availability_body(code: str, now: datetime) -> bytes:
    office = _office_or_404(code)
    codes = [c for c in request.args.get("services", "").split(",") if c]
    queryable = [c for c in codes if _is_text(c)]
    errors: dict[str, list[str]] = {}
    services: list[ServiceType] = []
    problem = booking_request.service_codes_problem(codes)
    if problem:
        errors["services"] = [problem]
    else:
        found = {
            s.code: s
            for s in db.session.scalars(
                booking.online_services_query(office.id).where(ServiceType.code.in_(queryable))
            )
        }
        if len(found) != len(codes):
            errors["services"] = [
                _(
                    "This office does not offer: %(codes)s.",
                    codes=", ".join(c for c in codes if c not in found),
                )
            ]
        services = [found[c] for c in codes if c in found]
    today = now.astimezone(office.zone).date()
    try:
        first_day = _parse_day("from", today)
        fortnight = timedelta(days=13)
        last_day = _parse_day("to", min(first_day, date.max - fortnight) + fortnight)
    except ValidationFailed as error:
        errors.update(error.fields)
        first_day = last_day = today
    if not errors and last_day < first_day:
        errors["to"] = [_("The end of the range is before its start.")]
    if not errors and (last_day - first_day).days >= MAX_AVAILABILITY_DAYS:
        errors["to"] = [_("Ask for at most %(days)d days at a time.", days=MAX_AVAILABILITY_DAYS)]
    if errors:
        raise ValidationFailed(errors)
    # Read before the free times, which reuse them for the days they keep off sale.
    releases = covering_releases(db.session, office, [s.id for s in services], first_day, last_day)
    starts = (
        visit_start_times(
            db.session,
            office,
            VisitRules.for_services(services),
            first_day,
            last_day,
            now,
            read_seats=availability_cache.seat_reader(),
        )
        if office.booking_open
        else []
    )
    return jsonify(
        schemas.answer(
            schemas.Availability,
            {
                "office": office.code,
                "timezone": office.timezone,
                "booking_open": office.booking_open,
                "lottery": [
                    {
                        "first_day": r.first_day.isoformat(),
                        "last_day": r.last_day.isoformat(),
                        "services": [s.code for s in r.services],
                        "entries_open": _iso(r.opens_at, office),
                        "entries_close": _iso(r.closes_at, office),
                        "draw_at": _iso(r.draw_at, office),
                        "state": str(r.effective_state(now)),
                        "url": url_for("lottery.release", release_id=r.id, _external=True),
                    }
                    for r in releases
                ],
                "closed_days": [
                    {"day": day.isoformat(), "reason": reason}
                    for day, reason in schedule.public_closed_days(
                        db.session, office, first_day, last_day, _locale()
                    ).items()
                ],
                "slots": [
                    {
                        "start": _iso(s.starts_at, office),
                        "end": _iso(s.ends_at, office),
                        "available": s.available,
                    }
                    for s in starts
                ],
            },
        )
    ).get_data()


@bp.get("/challenge")
@limiter.limit(lambda: current_app.config["POW_CHALLENGE_RATE_LIMIT"])
def challenge() -> Response:
    """Give a proof-of-work challenge for a hold at an office."""
    code = request.args.get("office", "")
    office = _office_or_404(code)
    settings = proof_of_work.settings_from_config(current_app.config)
    body = proof_of_work.issue_challenge(
        db.session, office, client_of(request), now_utc(), settings
    )
    response = jsonify(schemas.answer(schemas.Challenge, body))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/appointments")
@limit_holds
def create_appointment() -> tuple[Response, int]:
    """Hold a visit and email the confirmation code, for a solved proof-of-work challenge."""
    data = _json_object()
    now = now_utc()
    # The proof is spent in a transaction of its own, so a refused hold still spends it.
    with transaction():
        proof_of_work.require_proof(
            db.session,
            data.get("office"),
            data.get("proof_of_work"),
            data.get("device_fingerprint"),
            client_of(request),
            now,
            proof_of_work.settings_from_config(current_app.config),
        )
    with transaction():
        return _hold(data, now)


def _hold(data: dict[str, Any], now: datetime) -> tuple[Response, int]:
    """Hold the visit a request body asks for; the 201 answer."""
    policy = booking_policy()
    booking.refuse_taken_start(db.session, data.get("office"), data.get("start"), now)
    request_ = booking.parse_booking_request(db.session, data, now, policy)
    placed = booking.place_hold(db.session, request_, now, policy)
    appointment = placed.appointment
    # The API has no journey to time; the fingerprint is the one sent beside the proof.
    suspicion.record_origin(
        db.session,
        appointment,
        client_of(request),
        fingerprint=proof_of_work.clean_fingerprint(data.get("device_fingerprint")),
        seconds=None,
    )
    body = schemas.answer(
        schemas.Hold,
        {
            "reference": appointment.reference,
            "status": "held",
            "hold_expires_at": _iso(appointment.hold_expires_at, appointment.office),
            "manage_token": placed.manage_token,
            "start": _iso(appointment.starts_at, appointment.office),
            "end": _iso(appointment.ends_at, appointment.office),
        },
    )
    return jsonify(body), 201


def _no_hold() -> NotFound:
    """The one answer for every reference that has no hold waiting for its code: unknown,
    confirmed, cancelled or ended alike, so that confirming tells nobody which references
    exist."""
    return NotFound(
        _(
            "No hold waiting for a code has this reference. "
            "If you held a time, it may have ended: please book again."
        )
    )


@bp.post("/appointments/<reference>/confirm")
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"])
# A wrong code counts as an attempt and an ended hold frees its seats: both are kept (the
# ended hold is answered as not found, which is committed too: nothing else was written).
@atomic(commit_refused=(WrongCode, NotFound))
def confirm_appointment(reference: str) -> tuple[Response, int]:
    """Confirm a hold with the emailed code."""
    data = _json_object()
    now = now_utc()
    code = data.get("code")
    if not isinstance(code, str):
        raise ValidationFailed({"code": [_("Enter the 6-digit code from the email.")]})
    appointment = booking.find_by_reference(db.session, reference)
    if appointment is None:
        raise _no_hold()
    try:
        booking.confirm_hold(db.session, appointment, code, now, booking_policy())
    except (HoldExpired, InvalidState) as ended:
        raise _no_hold() from ended
    return jsonify(appointment_json(appointment, now)), 200


@bp.get("/appointments/<reference>")
def get_appointment(reference: str) -> Response:
    """Show an appointment to the holder of its manage token."""
    appointment = booking.find_managed(db.session, reference, _bearer_token(), booking_policy())
    return jsonify(appointment_json(appointment, now_utc()))


@bp.post("/appointments/<reference>/cancel")
@atomic()
def cancel_appointment(reference: str) -> tuple[Response, int]:
    """Cancel an appointment for the holder of its manage token."""
    appointment = booking.find_managed(db.session, reference, _bearer_token(), booking_policy())
    data = _json_body()
    reason = data.get("reason") if isinstance(data, dict) else None
    if reason is not None and not (isinstance(reason, str) and _is_text(reason)):
        raise ValidationFailed({"reason": [_("Give the reason as text.")]})
    now = now_utc()
    booking.cancel_appointment(db.session, appointment, reason or "", now, booking_policy())
    return jsonify(appointment_json(appointment, now)), 200
