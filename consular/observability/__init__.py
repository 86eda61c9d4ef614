"""Running like a production service: health checks, Prometheus metrics and structured logs
(README, "Health, metrics and logs"; docs/operations.md for the alerts)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request

from consular.config import ConfigError
from consular.observability import health, logs, metrics

# Probes that answer as expected leave no log line (a load balancer asks every few seconds);
# they are still counted in the metrics.
QUIET_ENDPOINTS = frozenset({"healthz", "readyz", "metrics"})


def init_logging(app: Flask) -> None:
    """Configure the process's logging from LOG_LEVEL and LOG_FORMAT (JSON unless debug)."""
    level = str(app.config.get("LOG_LEVEL") or "INFO").upper()
    if level not in logs.LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(logs.LEVELS)}, not {level!r}")
    debug = app.debug or bool(app.config.get("DEBUG_MODE"))
    log_format = str(app.config.get("LOG_FORMAT") or ("text" if debug else "json")).lower()
    if log_format not in logs.FORMATS:
        raise ConfigError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    app.config["LOG_LEVEL"], app.config["LOG_FORMAT"] = level, log_format
    logs.configure(level, log_format, app.config["PASSPORT_PATTERN"])
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)


def init_app(app: Flask) -> None:
    """Register the health checks, /metrics, and the hooks that give every request an id,
    a log line and its count."""
    from consular.clients import trusted_proxies
    from consular.extensions import csrf, limiter

    health.init_app(app)
    app.extensions["consular.metrics_allow"] = metrics.allowed_peers(app)
    app.add_url_rule("/metrics", "metrics", limiter.exempt(csrf.exempt(metrics.metrics_view)))
    proxies = (
        trusted_proxies(app.wsgi_app, app.config["PROXY_COUNT"], app.config["TRUSTED_PROXIES"])
        if app.config["PROXY_COUNT"]
        else None
    )

    def start_request() -> None:
        """Note when the request started and choose its id."""
        g.request_started = time.perf_counter()
        original = request.environ.get("werkzeug.proxy_fix.orig") or {}
        peer = original.get("REMOTE_ADDR", request.environ.get("REMOTE_ADDR")) or ""
        given = None
        if proxies is not None and proxies.is_trusted(peer):
            given = logs.accepted_request_id(request.headers.get("X-Request-ID"))
        g.request_id = given or logs.new_request_id()
        g.request_id_token = logs.request_id_var.set(g.request_id)

    def finish_request(response: Response) -> Response:
        """Write the request's log line, count it, and hand its id back."""
        started = g.get("request_started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        endpoint = request.endpoint
        metrics.observe_request(endpoint, request.method, response.status_code, seconds)
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        if endpoint not in QUIET_ENDPOINTS or response.status_code >= 400:
            logs.log_request(
                method=request.method,
                endpoint=endpoint or metrics.UNMATCHED,
                path=request.path,
                status=response.status_code,
                duration_ms=seconds * 1000,
                staff_id=_staff_id(),
            )
        return response

    def end_request(_error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                logs.request_id_var.reset(token)
            except ValueError:  # set in another context (a test client's nested request)
                logs.request_id_var.set(None)

    # First of the hooks before, last of those after (Flask runs those in reverse): the
    # id is there for every other hook's log lines, and the line sees the final status.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request_funcs.setdefault(None, []).insert(0, finish_request)
    app.teardown_request(end_request)


def _staff_id() -> int | None:
    """The signed-in staff account's id, if the request loaded it (reading the session here
    would mark every response as varying by cookie)."""
    user: Any = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return int(user.id)
    return None
