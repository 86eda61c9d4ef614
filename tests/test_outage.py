"""Requests while the database is away answer 503 with Retry-After, in the visitor's language
(JSON on the API), never 500; a view whose pooled connection died under it is run once more
when nothing was committed; a teardown step that fails does not turn an answer into a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import current_user

from bench.server import free_port
from consular import create_app
from consular.auth import SEEN_AT, SIGNED_IN_AT
from consular.extensions import db
from consular.outage import dispatch_with_one_retry, is_database_unavailable
from tests.conftest import Clock, base_config
from tests.staff.conftest import accounts, offices, sign_in  # noqa: F401


@pytest.fixture
def unreachable(clock: Clock, tmp_path) -> Iterator[Flask]:
    """The app with its database on a port where nothing listens (PostgreSQL stopped)."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/consular"
    app = create_app(base_config(url, clock))
    app.instance_path = str(tmp_path)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("en", "The service is briefly unavailable"),
        ("ru", None),
        ("ko", None),
    ],
)
def test_a_page_answers_503_in_the_visitors_language(
    unreachable: Flask, language: str, title: str | None
) -> None:
    answer = unreachable.test_client().get("/book", headers={"Accept-Language": language})

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "10"
    assert answer.headers["Cache-Control"] == "no-store"
    page = answer.get_data(as_text=True)
    assert f'lang="{language}"' in page
    if title:
        assert title in page and "check your email first" in page


def test_the_api_answers_503_as_json(unreachable: Flask) -> None:
    answer = unreachable.test_client().get("/api/v1/offices")

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "10"
    assert answer.get_json()["error"] == "unavailable"


def test_a_signed_in_clerk_gets_the_503_page_not_a_500(unreachable: Flask, clock: Clock) -> None:
    client = unreachable.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:1"  # the account can't be loaded: the database is away
        session["language"] = "kk"
        session[SIGNED_IN_AT] = session[SEEN_AT] = clock().isoformat()

    answer = client.get("/staff/")

    assert answer.status_code == 503
    assert 'lang="kk"' in answer.get_data(as_text=True)


def test_a_form_post_answers_503(unreachable: Flask) -> None:
    answer = unreachable.test_client().post("/book/seoul", data={"services": "1"})
    assert answer.status_code == 503


def test_errors_that_are_not_an_outage_stay_500s() -> None:
    integrity = sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not is_database_unavailable(integrity)
    assert not is_database_unavailable(ValueError("no"))
    refused = sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert is_database_unavailable(refused)
    assert is_database_unavailable(sa.exc.TimeoutError("QueuePool limit reached"))


def _lost_connection() -> sa.exc.DBAPIError:
    error = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    error.connection_invalidated = True
    return error


def test_a_view_whose_connection_died_is_run_once_more(app: Flask) -> None:
    runs: list[int] = []

    def view() -> str:
        runs.append(1)
        if len(runs) == 1:
            raise _lost_connection()
        return "ok"

    with app.test_request_context("/"):
        assert dispatch_with_one_retry(view) == "ok"
    assert len(runs) == 2


def test_only_once(app: Flask) -> None:
    def view() -> str:
        raise _lost_connection()

    with app.test_request_context("/"), pytest.raises(sa.exc.OperationalError):
        dispatch_with_one_retry(view)


def test_never_after_a_commit_was_sent(app: Flask) -> None:
    """A connection lost during COMMIT leaves the outcome unknown: repeating could write twice."""
    runs: list[int] = []

    def view() -> str:
        runs.append(1)
        db.session.commit()
        raise _lost_connection()

    with app.test_request_context("/", method="POST"), pytest.raises(sa.exc.OperationalError):
        dispatch_with_one_retry(view)
    assert len(runs) == 1


def end_the_sessions_connection() -> int:
    """End the request session's database connection from another one, as a restart of
    PostgreSQL does; the id of the server process that served it."""
    pid: int = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with db.engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    return pid


@pytest.mark.postgresql_only
def test_a_connection_killed_under_a_request_is_retried_on_a_new_one(
    app: Flask, make_office: Any, backend: str
) -> None:
    """The database ends the request's connection between two statements (what a restart
    does to every connection): the page still answers, from a second run on a new connection."""
    make_office("seoul")
    db.session.commit()
    killed: list[int] = []

    def kill_own_connection() -> None:
        if not killed:
            killed.append(end_the_sessions_connection())

    app.before_request(kill_own_connection)

    answer = app.test_client().get("/book/seoul")

    assert killed
    assert answer.status_code == 200
    assert "seoul" in answer.get_data(as_text=True).lower()


def test_a_failing_teardown_does_not_turn_the_answer_into_a_500(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_remove() -> None:
        raise sa.exc.OperationalError("ROLLBACK", {}, Exception("server closed the connection"))

    monkeypatch.setattr(db.session, "remove", broken_remove)
    client = app.test_client()
    with app.app_context():  # a context of the request's own, torn down after it
        answer = client.get("/__ping")
    assert answer.status_code == 200


@pytest.mark.postgresql_only
def test_a_signed_in_clerk_whose_connection_is_killed_still_gets_the_page(
    app: Flask,
    offices,  # noqa: F811
    accounts,  # noqa: F811
) -> None:
    """The account was loaded on the connection that dies: the second run reads it again."""
    armed: list[bool] = []
    killed: list[int] = []

    def load_the_account_then_kill_the_connection() -> None:
        if not armed or killed:
            return
        assert current_user.is_authenticated  # loaded now, on this connection
        killed.append(end_the_sessions_connection())

    app.before_request(load_the_account_then_kill_the_connection)
    client = app.test_client()
    assert sign_in(client, "clerk.seoul@example.org").status_code == 302
    armed.append(True)

    answer = client.get("/staff/seoul")

    assert killed
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
