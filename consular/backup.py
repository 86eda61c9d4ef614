"""`flask db backup`: a copy of the database taken while the app keeps running (README,
"Backups and restore").

On SQLite, SQLite's online backup API copies the file as one consistent snapshot (in WAL mode
the app's writers are not held up), and the copy must pass `PRAGMA integrity_check`. On
PostgreSQL, `pg_dump -Fc` takes the snapshot (the custom format is what `pg_restore` reads)
and `pg_restore --list` must be able to read it back. Either way a file that exists is never
overwritten.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate.cli import db as db_group  # type: ignore[import-not-found]  # no stubs

from consular.extensions import db
from consular.models import now_utc

SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".dump"}


def default_path(instance_path: str, dialect: str) -> Path:
    """instance/backups/consular-YYYYmmdd-HHMMSS (UTC), with the dialect's suffix."""
    stamp = now_utc().strftime("%Y%m%d-%H%M%S")
    return Path(instance_path) / "backups" / f"consular-{stamp}{SUFFIXES[dialect]}"


def claim(path: Path) -> None:
    """Create the empty file, refusing one that exists (even one made a moment ago)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise click.ClickException(f"{path} exists already; a backup never overwrites") from None
    except OSError as error:
        raise click.ClickException(f"can't write the backup: {error}") from None


def sqlite_file(url: sa.URL) -> Path:
    """The file of the SQLite database."""
    if url.database in (None, "", ":memory:"):
        raise click.ClickException("an in-memory SQLite database has nothing on disk to back up")
    path = Path(url.database)
    if not path.is_file():
        raise click.ClickException(f"there is no database at {path}")
    return path


def backup_sqlite(source_path: Path, target: Path) -> None:
    """Copy the SQLite database into target with the online backup API, then check the copy."""
    try:
        with (
            closing(sqlite3.connect(source_path, timeout=30)) as source,
            closing(sqlite3.connect(target)) as copy,
        ):
            # One step: the copy is a single snapshot, and a writer in between can't restart it.
            source.backup(copy)
            # A backup is one file: no -wal or -shm beside it.
            copy.execute("PRAGMA journal_mode = DELETE")
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    except sqlite3.Error as error:
        target.unlink()
        raise click.ClickException(f"SQLite could not copy the database: {error}") from None
    if problems != ["ok"]:
        target.unlink()
        raise click.ClickException(
            f"the copy failed SQLite's integrity check and was deleted: {'; '.join(problems)}"
        )


def libpq_url(url: sa.URL) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump, and the environment that carries its password (never in argv,
    which any user of the machine can read)."""
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def postgresql_programs() -> tuple[str, str]:
    """pg_dump and pg_restore, from PATH."""
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        raise click.ClickException(
            "pg_dump and pg_restore are not installed (Debian: apt-get install "
            "postgresql-client); run `pg_dump -Fc` where they are (README, 'Backups and restore')"
        )
    return pg_dump, pg_restore


def backup_postgresql(url: sa.URL, programs: tuple[str, str], target: Path) -> None:
    """Dump the PostgreSQL database into target with `pg_dump -Fc`, then read it back."""
    pg_dump, pg_restore = programs
    dsn, environment = libpq_url(url)
    commands = (
        [pg_dump, "--format=custom", f"--file={target}", f"--dbname={dsn}"],
        [pg_restore, "--list", str(target)],
    )
    for command in commands:
        done = subprocess.run(command, env=environment, capture_output=True, text=True)
        if done.returncode != 0:
            target.unlink()
            name = Path(command[0]).name
            raise click.ClickException(f"{name} failed, no backup made: {done.stderr.strip()}")


@db_group.command("backup")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(path: Path | None) -> None:
    """Back up the database, while the app runs, into a new file PATH (default:
    instance/backups/consular-YYYYmmdd-HHMMSS, UTC)."""
    url = db.engine.url
    dialect = db.engine.dialect.name
    if dialect not in SUFFIXES:
        raise click.ClickException(f"backups of {dialect} databases are not supported")
    target = path or default_path(current_app.instance_path, dialect)
    if dialect == "sqlite":
        source = sqlite_file(url)
        claim(target)
        backup_sqlite(source, target)
    else:
        programs = postgresql_programs()
        claim(target)
        backup_postgresql(url, programs, target)
    click.echo(f"Backed up to {target} ({target.stat().st_size} bytes)")
