"""Error pages for people and JSON errors for the API."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, TooManyRequests

from consular.extensions import db

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


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)
