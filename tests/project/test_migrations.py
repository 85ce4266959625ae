"""The migrations make exactly the schema the models describe, on SQLite and PostgreSQL, and can be undone."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from fundcircle import create_app
from fundcircle.extensions import db
from tests.conftest import test_config


def test_the_migrated_database_matches_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_flask_db_check_finds_nothing_to_generate(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_migrations_upgrade_an_empty_database_and_downgrade_it_again(tmp_path: Path) -> None:
    app = create_app(test_config(f"sqlite:///{tmp_path / 'fresh.sqlite'}"))
    with app.app_context():
        flask_migrate.upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {
            "users",
            "circles",
            "memberships",
            "rounds",
            "proposals",
            "proposal_versions",
            "ledger_entries",
        } <= tables
        with db.engine.connect() as connection:
            site_chain = connection.execute(sa.text("SELECT head_seq FROM ledger_chains WHERE circle_id IS NULL"))
            assert site_chain.scalar_one() == 0
        flask_migrate.downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
