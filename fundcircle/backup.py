"""`flask --app fundcircle backup` and `restore`: a copy of the whole database, and that copy put back and checked.

PostgreSQL is copied with pg_dump's custom format and put back with pg_restore (the client tools of the server's
major version, Debian's postgresql-client); the embedded SQLite database with SQLite's online backup API, which
copies a consistent state while the app keeps serving. A restore ends with `ledger verify` run on the restored copy:
a copy whose ledger does not verify is reported as such (exit status 1), never as a successful restore.

The password of a PostgreSQL URL is handed to the client tools in PGPASSWORD, never on their command line (which
every user of the machine can read in the process list).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess  # nosec B404  # runs pg_dump, pg_restore and `flask ledger verify`, fixed programs
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import URL, make_url

#: The first bytes of each kind of backup file.
PG_DUMP_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(click.ClickException):
    """A backup or restore that could not be done; the message says what and where."""


def _database_url(value: str | None) -> URL:
    return make_url(value or current_app.config["SQLALCHEMY_DATABASE_URI"])


def _client_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client tools of your server's major version "
            "(on Debian: `apt-get install postgresql-client`)."
        )
    return path


def _libpq_arguments(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump and pg_restore, and the environment that carries the password."""
    arguments = []
    if url.host:
        arguments += ["--host", url.host]
    if url.port:
        arguments += ["--port", str(url.port)]
    if url.username:
        arguments += ["--username", url.username]
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return arguments, environment


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("The database is an in-memory SQLite database: there is nothing on disk to copy.")
    return Path(url.database)


def _run(command: list[str], environment: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)  # nosec B603
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")


def backup_database(url: URL, target: Path) -> None:
    """Copy the database at `url` into the file `target` (which must not exist yet)."""
    if target.exists():
        raise BackupError(f"{target} exists already: a backup never overwrites a file; choose a new name.")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory: create it first.")
    if url.get_backend_name() == "postgresql":
        arguments, environment = _libpq_arguments(url)
        command = [_client_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", *arguments]
        _run([*command, "--file", str(target), "--dbname", str(url.database)], environment, "pg_dump")
    elif url.get_backend_name() == "sqlite":
        source_path = _sqlite_path(url)
        if not source_path.exists():
            raise BackupError(f"There is no SQLite database at {source_path}.")
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    else:
        raise BackupError(f"Backups of {url.get_backend_name()} databases are not supported (PostgreSQL, SQLite).")


def _has_tables(url: URL) -> bool:
    engine = sa.create_engine(url)
    try:
        return bool(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def restore_database(source: Path, url: URL, *, replace: bool) -> None:
    """Put the backup file `source` into the database at `url`; one that has tables only when `replace`."""
    if not source.is_file():
        raise BackupError(f"There is no backup file at {source}.")
    with source.open("rb") as file:
        start = file.read(len(SQLITE_MAGIC))
    backend = url.get_backend_name()
    expected = {"postgresql": PG_DUMP_MAGIC, "sqlite": SQLITE_MAGIC}.get(backend)
    if expected is None:
        raise BackupError(f"Restoring into {backend} databases is not supported (PostgreSQL, SQLite).")
    if not start.startswith(expected):
        kind = "a pg_dump file" if backend == "postgresql" else "an SQLite database file"
        raise BackupError(f"{source} is not {kind}, so it cannot be restored into this {backend} database.")
    if backend == "sqlite":
        target_path = _sqlite_path(url)
    if (backend == "postgresql" or target_path.exists()) and _has_tables(url) and not replace:
        raise BackupError(
            f"The database {url.database} has tables already: restore into an empty database, or give --replace "
            "to replace what is there."
        )
    if backend == "postgresql":
        arguments, environment = _libpq_arguments(url)
        command = [_client_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", *arguments]
        if replace:
            command += ["--clean", "--if-exists"]
        _run([*command, "--single-transaction", "--dbname", str(url.database), str(source)], environment, "pg_restore")
    else:
        backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        restored = sqlite3.connect(target_path)
        try:
            backup.backup(restored)
        finally:
            restored.close()
            backup.close()


def verify_restored(url: URL) -> int:
    """Run `flask ledger verify` against the database at `url` in a process of its own; its exit status."""
    environment = dict(os.environ, DATABASE_URL=url.render_as_string(hide_password=False))
    command = [sys.executable, "-m", "flask", "--app", "fundcircle", "ledger", "verify"]
    return subprocess.run(command, env=environment, check=False).returncode  # nosec B603  # fixed argv


@click.command("backup")
@with_appcontext
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The new file to write (for example /var/backups/fundcircle/2026-12-02.dump).",
)
@click.option("--database-url", default=None, help="The database to copy (default: the app's own).")
def backup_command(target: Path, database_url: str | None) -> None:
    """Copy the whole database into a new file: pg_dump's custom format for PostgreSQL, an SQLite file for SQLite."""
    url = _database_url(database_url)
    backup_database(url, target)
    click.echo(
        f"Backed up the {url.get_backend_name()} database {url.database} to {target} ({target.stat().st_size} bytes)."
    )


@click.command("restore")
@with_appcontext
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file written by `flask backup`.",
)
@click.option("--database-url", default=None, help="The database to restore into (default: the app's own).")
@click.option("--replace", is_flag=True, help="Replace the tables of a database that has them.")
def restore_command(source: Path, database_url: str | None, replace: bool) -> None:
    """Restore a backup into a database, then run `ledger verify` on the restored copy (exit status 1 if the
    restored ledger does not verify)."""
    url = _database_url(database_url)
    restore_database(source, url, replace=replace)
    click.echo(f"Restored {source} into the {url.get_backend_name()} database {url.database}; verifying its ledger:")
    if verify_restored(url) != 0:
        raise BackupError(f"The restored database {url.database} does not verify (see above): do not serve it.")
    click.echo(f"The restored database {url.database} verifies.")
