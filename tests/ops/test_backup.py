"""`flask backup` and `flask restore`: a copy of a circle's database, put back elsewhere, with its ledger verified."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from fundcircle import create_app
from fundcircle.extensions import db
from tests.conftest import TEST_SECRET_KEY, test_config
from tests.factories import add_member, make_circle, make_funded_round, make_user


@pytest.fixture(autouse=True)
def verifier_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`restore` runs `flask ledger verify` as a process of its own: it gets a secret key as a host's would."""
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path.cwd()), str(Path.cwd() / "devtools/oc_sandbox")]))


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same kind as the app's, with nothing in it, to restore into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.sqlite'}"
        return
    name = f"fc_ops23_restore_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _seed(app: Flask) -> None:
    with app.app_context():
        admin, voter = make_user(), make_user()
        circle = make_circle(admin, slug="riverside")
        add_member(circle, voter, ["member", "circle"], by=admin)
        make_funded_round(circle, admin, voter, [{"author": admin, "title": "Seed library"}])


def _heads(url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(
                    sa.text("SELECT circle_id, head_seq, head_hash FROM ledger_chains ORDER BY circle_id")
                )
            ]
    finally:
        engine.dispose()


def test_a_backup_restored_into_an_empty_database_verifies(
    app: Flask, database_url: str, empty_database: str, tmp_path: Path
) -> None:
    _seed(app)
    runner = app.test_cli_runner()
    backup = tmp_path / "fundcircle.backup"
    made = runner.invoke(args=["backup", "--to", str(backup)])
    assert made.exit_code == 0, made.output
    assert f"to {backup}" in made.output and backup.stat().st_size > 0

    restored = runner.invoke(args=["restore", "--from", str(backup), "--database-url", empty_database])
    assert restored.exit_code == 0, restored.output
    assert restored.output.rstrip().endswith("verifies.")
    heads = _heads(empty_database)
    assert heads == _heads(database_url)
    assert len(heads) == 2 and heads[1][1] > 0  # the site's chain and the circle's, with its entries

    restored_app = create_app(test_config(empty_database))
    assert restored_app.test_client().get("/readyz").status_code == 200
    with restored_app.app_context():
        db.engine.dispose()


def test_a_restored_copy_whose_ledger_was_edited_is_reported_as_not_verifying(
    app: Flask, empty_database: str, tmp_path: Path
) -> None:
    _seed(app)
    runner = app.test_cli_runner()
    backup = tmp_path / "fundcircle.backup"
    assert runner.invoke(args=["backup", "--to", str(backup)]).exit_code == 0
    assert runner.invoke(args=["restore", "--from", str(backup), "--database-url", empty_database]).exit_code == 0
    engine = sa.create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE ledger_entries SET action = 'edited' WHERE seq = 2 AND circle_id IS NOT NULL")
        )
    engine.dispose()
    second = tmp_path / "edited.backup"
    edited_app = create_app(test_config(empty_database))
    edited = edited_app.test_cli_runner()
    assert edited.invoke(args=["backup", "--to", str(second)]).exit_code == 0
    with edited_app.app_context():
        db.engine.dispose()

    result = edited.invoke(args=["restore", "--from", str(second), "--database-url", empty_database, "--replace"])
    assert result.exit_code == 1
    assert "does not verify (see above): do not serve it" in result.output


def test_restore_refuses_a_database_that_has_tables_and_changes_nothing(app: Flask, tmp_path: Path) -> None:
    _seed(app)
    runner = app.test_cli_runner()
    backup = tmp_path / "fundcircle.backup"
    assert runner.invoke(args=["backup", "--to", str(backup)]).exit_code == 0
    with app.app_context():
        before = db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries"))
    result = runner.invoke(args=["restore", "--from", str(backup)])
    assert result.exit_code == 1
    assert "has tables already: restore into an empty database, or give --replace" in result.output
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries")) == before


def test_backup_never_overwrites_a_file_and_restore_refuses_a_file_of_the_wrong_kind(
    app: Flask, empty_database: str, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    existing = tmp_path / "kept.txt"
    existing.write_text("notes")
    result = runner.invoke(args=["backup", "--to", str(existing)])
    assert result.exit_code == 1 and "exists already: a backup never overwrites a file" in result.output
    assert existing.read_text() == "notes"
    result = runner.invoke(args=["restore", "--from", str(existing), "--database-url", empty_database])
    assert result.exit_code == 1 and f"{existing} is not " in result.output
    result = runner.invoke(args=["restore", "--from", str(tmp_path / "missing.dump"), "--database-url", empty_database])
    assert result.exit_code == 1 and "There is no backup file at" in result.output
