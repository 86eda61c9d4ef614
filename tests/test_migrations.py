"""The migrations are the schema: one head, and upgrading gives exactly the models' tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from consular import create_app
from consular.extensions import db
from consular.models import Base
from tests.databases import database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def test_migrations_have_a_single_head() -> None:
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_gives_the_models_schema_and_downgrade_undoes_it(backend: str, tmp_path) -> None:
    with database(backend, tmp_path) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "render_as_batch": True}
                )
                differences = compare_metadata(context, Base.metadata)
            assert differences == []
            downgrade(revision="base")
            remaining = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
            assert remaining == set()
            db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_flask_db_check_is_clean(backend: str, tmp_path) -> None:
    with database(backend, tmp_path) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
        runner = app.test_cli_runner()
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        result = runner.invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_services_that_shared_visits_before_combinations_existed_still_may(
    backend: str, tmp_path
) -> None:
    with database(backend, tmp_path) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade(revision="f0ddd9579690")
            with db.engine.begin() as connection:
                for code in ("passport", "marriage"):
                    connection.execute(
                        sa.text(
                            "INSERT INTO service_type (code, name, description, documents, fee,"
                            " duration_minutes, detail_sets, min_notice_hours, horizon_days,"
                            " cutoff_hours, is_active, sort_order) VALUES (:code, '{}', '{}',"
                            " '{}', '{}', 15, '[]', 24, 60, 24, true, 0)"
                        ),
                        {"code": code},
                    )
            upgrade()
            with db.engine.connect() as connection:
                pairs = connection.execute(
                    sa.text(
                        "SELECT a.code, b.code FROM service_combination c"
                        " JOIN service_type a ON a.id = c.service_type_id"
                        " JOIN service_type b ON b.id = c.other_service_type_id ORDER BY 1"
                    )
                ).all()
                limits = connection.execute(
                    sa.text("SELECT max_active_bookings, is_online FROM service_type")
                ).all()
            assert [tuple(p) for p in pairs] == [("marriage", "passport"), ("passport", "marriage")]
            assert [tuple(row) for row in limits] == [(1, True), (1, True)]
            db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_downgrading_the_admin_configuration_keeps_the_index_partial(
    backend: str, tmp_path
) -> None:
    with database(backend, tmp_path) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            downgrade(revision="f0ddd9579690")
            catalog = (
                "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
                if backend == "postgresql"
                else "SELECT sql FROM sqlite_master WHERE name = :name"
            )
            with db.engine.connect() as connection:
                definition = connection.execute(
                    sa.text(catalog), {"name": "uq_appointment_service_active_iin"}
                ).scalar_one()
            assert "WHERE is_active" in definition
            assert "active_seq" not in definition
            db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_seats_of_unconfirmed_holds_learn_when_their_hold_ends(backend: str, tmp_path) -> None:
    with database(backend, tmp_path) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade(revision="b7d41c2e9a05")
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO office (id, code, reference_prefix, name, address,"
                        " directions, map_url, phone, email, timezone, slot_minutes,"
                        " booking_open, booking_closed_message, is_demo, ticket_prefix,"
                        " walk_in_share) VALUES (1, 'o', 'OOO', '{}', '{}', '{}', '', '', '',"
                        " 'Asia/Seoul', 15, true, '{}', false, 'A', 0)"
                    )
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO slot (id, office_id, starts_at, ends_at, desks, capacity,"
                        " booked, is_blocked, outside_schedule, is_kept) VALUES"
                        " (1, 1, '2026-12-01 00:00:00+00', '2026-12-01 00:15:00+00', 2, 2, 2,"
                        " false, false, false)"
                    )
                )
                for number, status in ((1, "held"), (2, "confirmed")):
                    connection.execute(
                        sa.text(
                            "INSERT INTO appointment (id, reference, office_id, starts_at,"
                            " ends_at, status, language, given_name, family_name, iin,"
                            " passport_number, email, phone, details, code_hash, code_attempts,"
                            " code_sends, hold_expires_at, sequence, created_at) VALUES (:id,"
                            " :ref, 1, '2026-12-01 00:00:00+00', '2026-12-01 00:15:00+00',"
                            " :status, 'en', 'A', 'B', '900101300012', 'N1', 'a@example.com',"
                            " '010', '{}', 'x', 0, 1, '2026-11-30 10:10:00+00', 0,"
                            " '2026-11-30 10:00:00+00')"
                        ),
                        {"id": number, "ref": f"OOO-00000{number}", "status": status},
                    )
                    connection.execute(
                        sa.text(
                            "INSERT INTO appointment_slot (appointment_id, slot_id, holds_seat)"
                            " VALUES (:id, 1, true)"
                        ),
                        {"id": number},
                    )
            upgrade()
            with db.engine.connect() as connection:
                rows = connection.execute(
                    sa.text(
                        "SELECT appointment_id, hold_until FROM appointment_slot"
                        " ORDER BY appointment_id"
                    )
                ).all()
            held_until = rows[0][1]
            if isinstance(held_until, str):  # SQLite gives the text back
                held_until = datetime.fromisoformat(held_until)
            assert held_until.replace(tzinfo=held_until.tzinfo or UTC) == datetime(
                2026, 11, 30, 10, 10, tzinfo=UTC
            )
            assert rows[1][1] is None  # a confirmed visit keeps its seat
            db.engine.dispose()


def _triggers(connection: sa.Connection) -> set[tuple[str, ...]]:
    """The triggers (and on PostgreSQL the functions they run) a database has, as SQL."""
    if connection.dialect.name == "postgresql":
        triggers = connection.execute(
            sa.text("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal")
        ).scalars()
        functions = connection.execute(
            sa.text(
                "SELECT proname, prosrc FROM pg_proc"
                " JOIN pg_namespace n ON n.oid = pronamespace WHERE n.nspname = 'public'"
            )
        ).all()
        return {(text,) for text in triggers} | {tuple(row) for row in functions}
    return {
        tuple(row)
        for row in connection.execute(
            sa.text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
        )
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_gives_the_models_triggers_and_downgrade_drops_them(backend: str, tmp_path) -> None:
    """Alembic does not compare triggers: the daily figures' and the day page versions' are
    checked here, so that a later migration that rebuilds a table (SQLite's batch mode
    drops its triggers) fails."""
    with database(backend, tmp_path) as models_url:
        engine = sa.create_engine(models_url)
        Base.metadata.create_all(engine)
        with engine.connect() as connection:
            expected = _triggers(connection)
        engine.dispose()
    # Figures: 20 triggers (and 5 functions); page versions: 26 triggers (and 10 functions).
    assert len(expected) == (25 + 36 if backend == "postgresql" else 20 + 26)

    with database(backend, tmp_path) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                assert _triggers(connection) == expected
            downgrade(revision="c3a9e5d17b42")
            with db.engine.connect() as connection:
                assert _triggers(connection) == set()
            db.engine.dispose()
