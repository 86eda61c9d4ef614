"""`flask db backup` and the restore of README's "Backups and restore": a backup taken while
another connection writes, restored, has every appointment and the schema's version."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate.cli import db as db_group

from consular import create_app
from consular.extensions import db
from consular.models import Appointment, Office, Slot
from tests.conftest import base_config
from tests.databases import missing_service, postgres_database
from tests.staff.conftest import MONDAY_9, book

VISITS = 6


@pytest.fixture
def stamped(app: Flask) -> Iterator[str]:
    """The database at the migrations' head, as `flask db upgrade` leaves it; its revision."""
    result = app.test_cli_runner().invoke(db_group, ["stamp", "head"])
    assert result.exit_code == 0, result.output
    revision = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    db.session.commit()
    yield revision
    db.session.rollback()
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))


def backup(app: Flask, *arguments: str) -> tuple[int, str]:
    """Run `flask db backup`; its exit code and what it said (the app's JSON log lines of
    the writes going on meanwhile left out)."""
    result = app.test_cli_runner().invoke(db_group, ["backup", *arguments])
    said = [line for line in result.output.splitlines(True) if not line.startswith('{"level"')]
    return result.exit_code, "".join(said)


@contextmanager
def restored(backend: str, copy: Path, folder: Path) -> Iterator[sa.Engine]:
    """The backup restored as README says (SQLite: the file copied back; PostgreSQL:
    pg_restore into a new database), opened with an engine of its own."""
    if backend == "sqlite":
        # Stop the app, copy the file back (here: where a new app opens it).
        database = folder / "restored.sqlite3"
        shutil.copy(copy, database)
        engine = sa.create_engine(f"sqlite:///{database}")
        yield engine
        engine.dispose()
        return
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        missing_service("pg_restore is not installed (apt-get install postgresql-client)")
    with postgres_database() as url:
        target = url.replace("postgresql+psycopg://", "postgresql://")
        subprocess.run(
            [pg_restore, "--clean", "--if-exists", "--no-owner", f"--dbname={target}", str(copy)],
            check=True,
            capture_output=True,
        )
        engine = sa.create_engine(url)
        yield engine
        engine.dispose()


def test_a_backup_taken_while_the_app_writes_restores_every_appointment(
    app, backend, stamped, make_office, make_service, clock, iins, tmp_path
) -> None:
    if backend == "postgresql" and shutil.which("pg_dump") is None:
        missing_service("pg_dump is not installed (apt-get install postgresql-client)")
    office = make_office(services=[make_service()])
    clock.set(MONDAY_9 - timedelta(days=1))
    starts = list(
        db.session.scalars(
            sa.select(Slot.starts_at)
            .where(Slot.office_id == office.id, Slot.starts_at >= MONDAY_9)
            .order_by(Slot.starts_at)
            .limit(4 * VISITS)
        )
    )
    office_id, people = office.id, [next(iins) for _ in starts[VISITS:]]
    before = {book(office, start, next(iins), clock()).reference for start in starts[:VISITS]}
    # Another connection books visits all along the backup (this one lets SQLite's write
    # lock go).
    db.session.rollback()
    writing, written, failed = threading.Event(), [], []

    def write() -> None:
        with app.app_context():
            try:
                its_office = db.session.get_one(Office, office_id)
                for start, iin in zip(starts[VISITS:], people, strict=True):
                    written.append(book(its_office, start, iin, clock()).reference)
                    writing.set()
            except Exception as error:  # noqa: BLE001 - reported by the test below
                failed.append(error)
                writing.set()
            finally:
                db.session.remove()

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(30)
    code, output = backup(app)
    writer.join(30)
    assert not failed and code == 0, (failed, output)
    (copy,) = (Path(app.instance_path) / "backups").iterdir()
    assert output.strip() == f"Backed up to {copy} ({copy.stat().st_size} bytes)"
    assert copy.name.startswith("consular-")

    with restored(backend, copy, tmp_path) as engine, engine.connect() as connection:
        references = set(connection.scalars(sa.select(Appointment.reference)))
        version = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
    assert before <= references <= before | set(written)
    assert version == stamped
    if backend == "sqlite":
        # The restored file is a whole database the app opens as its own.
        again = create_app(base_config(f"sqlite:///{tmp_path / 'restored.sqlite3'}", clock))
        with again.app_context():
            assert before <= set(db.session.scalars(sa.select(Appointment.reference)))
            db.engine.dispose()


def test_a_backup_never_overwrites_a_file(app, tmp_path) -> None:
    existing = tmp_path / "kept.bin"
    existing.write_bytes(b"an earlier backup")
    code, output = backup(app, str(existing))
    assert code == 1 and "exists already" in output
    assert existing.read_bytes() == b"an earlier backup"


def test_without_pg_dump_postgresql_gets_a_clear_message(
    app, backend, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    target = tmp_path / "backup.dump"
    code, output = backup(app, str(target))
    if backend == "sqlite":
        assert code == 0, output  # SQLite needs no program
        return
    assert code == 1 and "pg_dump" in output and "Traceback" not in output
    assert not target.exists()
