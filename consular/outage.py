"""Requests while the database is away: a 503 that says to try again, never a 500, and one
quiet retry of a view whose pooled connection had died when nothing can have been written.

pool_pre_ping (consular/config.py) replaces a dead pooled connection when a request checks it
out; a connection can still die between that check and a statement (the database restarting
under traffic). Such a failure marks the error `connection_invalidated`. The view is then run
once more on a new connection if no COMMIT was sent in this request: every statement before
it belonged to a transaction the server has rolled back, so nothing was written; a failure
during COMMIT leaves the outcome unknown and is answered 503, never repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, g, has_request_context
from sqlalchemy.orm import Session

from consular.extensions import db

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
_COMMITTING = "consular_commit_sent"


def is_database_unavailable(error: BaseException) -> bool:
    """Whether the error says the database can't be used now (down, restarting, unreachable,
    out of connections, locked too long) rather than that a statement was wrong."""
    if isinstance(error, sa.exc.TimeoutError):  # no pooled connection free in time
        return True
    if isinstance(error, sa.exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return False


def retry_is_safe(error: BaseException) -> bool:
    """A pooled connection died under this request, and it sent no COMMIT."""
    return (
        isinstance(error, sa.exc.DBAPIError)
        and error.connection_invalidated
        and not g.get(_COMMITTING, False)
    )


def dispatch_with_one_retry(dispatch: Callable[[], Any]) -> Any:
    """Run the view; if its connection died and nothing was committed, run it once more."""
    try:
        return dispatch()
    except sa.exc.DBAPIError as error:
        if not retry_is_safe(error):
            raise
        logger.warning("database connection lost during a request; running it again once")
        try:
            # A rollback, not a new session: what the request loaded before (the signed-in
            # account) stays attached, expired, and is read again on the new connection.
            db.session.rollback()
        except Exception:
            raise error from None
        return dispatch()


def forget_session() -> None:
    """Roll back and close the request's session, whatever state its connection is in."""
    for step in (db.session.rollback, db.session.remove):
        try:
            step()
        except Exception:  # a dead connection may fail even to roll back
            logger.debug("discarding the session failed", exc_info=True)


def _note_commit(_session: Session) -> None:
    if has_request_context():
        g.setdefault(_COMMITTING, True)


def never_raising(teardown: Callable[[BaseException | None], Any]) -> Callable[..., None]:
    """A teardown function that logs instead of raising: an exception there escapes the
    app's error handlers and reaches the client as the WSGI server's own 500 page."""

    def wrapped(error: BaseException | None = None) -> None:
        try:
            teardown(error)
        except Exception:
            logger.warning("a teardown step failed", exc_info=True)

    wrapped.__name__ = getattr(teardown, "__name__", "teardown")
    return wrapped


def init_app(app: Flask) -> None:
    """Note every COMMIT a request sends, and make every teardown step safe; call last."""
    if not sa.event.contains(Session, "before_commit", _note_commit):
        sa.event.listen(Session, "before_commit", _note_commit)
    app.teardown_appcontext_funcs[:] = [never_raising(f) for f in app.teardown_appcontext_funcs]
    for functions in app.teardown_request_funcs.values():
        functions[:] = [never_raising(f) for f in functions]
