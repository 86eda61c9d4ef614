"""Error pages for people and JSON errors for the API."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, jsonify, render_template, request, session
from flask_babel import force_locale
from werkzeug.exceptions import HTTPException, InternalServerError, TooManyRequests

from consular.extensions import db
from consular.models.i18n import LANGUAGES
from consular.outage import RETRY_AFTER_SECONDS, forget_session, is_database_unavailable

logger = logging.getLogger(__name__)

_API_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
    429: "rate_limited",
    503: "unavailable",
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http_error(error: HTTPException) -> Response | tuple[Response | str, int]:
    """Answer an HTTP error as JSON on the API and as a page elsewhere."""
    status = error.code or 500
    if _wants_json():
        response = jsonify({"error": _API_CODES.get(status, "error"), "message": error.description})
        response.status_code = status
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        if isinstance(error, TooManyRequests) and error.retry_after:
            response.headers["Retry-After"] = error.get_response().headers["Retry-After"]
        return response
    return render_template("error.html", error=error, status=status), status


def handle_unexpected_error(error: Exception) -> Response | tuple[Response | str, int]:
    """Log an unexpected error, roll back, and answer 500 without details."""
    logger.exception("unhandled error", exc_info=error)
    db.session.rollback()
    return handle_http_error(InternalServerError())


def handle_database_error(error: sa.exc.SQLAlchemyError) -> Response | tuple[Response | str, int]:
    """The database is down, restarting or out of connections: 503 with Retry-After, in the
    visitor's language, without touching the database again; any other error is a 500."""
    if not is_database_unavailable(error):
        return handle_unexpected_error(error)
    logger.warning("database unavailable: %s", str(error).strip().splitlines()[0][:300])
    forget_session()
    if _wants_json():
        response = jsonify(
            {
                "error": "unavailable",
                "message": "The service is briefly unavailable; try again shortly.",
            }
        )
        response.status_code = 503
    else:
        # The usual choice of language may read the signed-in account: not now.
        chosen = session.get("language")
        language = chosen if chosen in LANGUAGES else None
        language = language or request.accept_languages.best_match(LANGUAGES) or "en"
        # Nor may the page load the account (Flask-Login's template variable would): it shows
        # as signed out.
        g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
        with force_locale(language):
            response = Response(render_template("error.html", status=503), status=503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(sa.exc.SQLAlchemyError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected_error)
