"""Fixtures: the app on SQLite and on PostgreSQL, a CSRF-aware client, and a clean database for every test.

Database tests take the `app` fixture, which is parametrised over `database_url` ("sqlite", "postgresql"). The
PostgreSQL variant runs where TEST_DATABASE_URL names a reachable server, and is skipped with that reason
elsewhere. The schema is made by the migrations, once per run and database; after each test every table is
emptied (TRUNCATE on PostgreSQL), so tests see real commits, as requests do.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from fundcircle import create_app
from fundcircle.extensions import db
from fundcircle.ledger.chain import GENESIS_HASH

# The Open Collective sandbox and the treasury world, for every folder that needs them.
pytest_plugins = ["tests.worlds.sandbox", "tests.worlds.treasury"]

TEST_PASSWORD = "correct horse battery"
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-production-checks"
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


#: The attachments' bytes during a run: a folder of its own, never the checkout's instance folder.
ATTACHMENTS_FOLDER = tempfile.mkdtemp(prefix="fundcircle-test-attachments-")


def test_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # argon2id with small parameters: the same code path, a test suite that runs in seconds.
        "PASSWORD_HASH_PARAMETERS": FAST_ARGON2,
        "MAIL_SERVER": "",
        # The worker's jobs run in the process that queues them, right after the commit (Huey's immediate mode):
        # notices still go through the outbox and its delivery; tests/worker/ runs a real worker process instead.
        "WORKER_IMMEDIATE": True,
        # The Open Collective sandbox of the tests listens on 127.0.0.1; production never allows loopback.
        "OPENCOLLECTIVE_ALLOW_LOOPBACK": True,
        # Links in e-mails come from BASE_URL alone, never the Host header: here, the test client's own host.
        "BASE_URL": "http://localhost",
        # The site's checkpoint key, fixed (base64 of a 32-byte Ed25519 seed): no key file in the instance folder.
        "LEDGER_SIGNING_KEY": "dGVzdC1sZWRnZXItc2lnbmluZy1rZXktMzItYnl0ZXM=",
        "ATTACHMENTS_FOLDER": ATTACHMENTS_FOLDER,
        **overrides,
    }


test_config.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


class Client(FlaskClient):
    """A test client that sends the CSRF token the way a browser form does."""

    def csrf_token(self) -> str:
        page = self.get("/").get_data(as_text=True)
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert match, "the page has no CSRF token"
        return match.group(1)

    def post_form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token())
        return self.post(url, data=data, **kwargs)

    def login(self, email: str, password: str = TEST_PASSWORD) -> Any:
        response = self.post_form("/login", {"email": email, "password": password})
        assert response.status_code == 302, f"log-in as {email} failed: {response.status_code}"
        return response

    def json_call(
        self, method: str, url: str, body: Any = None, *, token: str | None = None, csrf: bool = False
    ) -> Any:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if csrf:
            headers["X-CSRFToken"] = self.csrf_token()
        return self.open(url, method=method, json=body, headers=headers)


def _reset_postgresql_schema(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def _postgresql_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        pytest.skip("PostgreSQL variant: TEST_DATABASE_URL is not set, so no PostgreSQL server is configured")
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL variant: the server at TEST_DATABASE_URL is not reachable ({error.orig})")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database of each kind, for the whole run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'fundcircle-test.sqlite'}"
    else:
        url = _postgresql_url()
        _reset_postgresql_schema(url)
    app = create_app(test_config(url))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return url


def reset_database(app: Flask) -> None:
    """Empty every table and put back the site's ledger chain, as the first migration leaves it."""
    with app.app_context():
        tables = db.metadata.sorted_tables
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                names = ", ".join(f'"{table.name}"' for table in tables)
                connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            else:
                for table in reversed(tables):
                    connection.execute(table.delete())
            connection.execute(
                sa.text("INSERT INTO ledger_chains (circle_id, head_seq, head_hash) VALUES (NULL, 0, :h)"),
                {"h": GENESIS_HASH},
            )


@pytest.fixture(scope="session")
def session_app(database_url: str) -> Iterator[Flask]:
    app = create_app(test_config(database_url))
    app.test_client_class = Client
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(session_app: Flask) -> Iterator[Flask]:
    """The app on one database (both, across the parametrisation), emptied after the test."""
    yield session_app
    reset_database(session_app)


@pytest.fixture
def make_app(app: Flask, database_url: str) -> Iterator[Any]:
    """Another app on the same (emptied-afterwards) database, with other settings; its connections are closed."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        other = create_app(test_config(database_url, **overrides))
        other.test_client_class = Client
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> Client:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """An app context, for tests that call services directly."""
    with app.app_context():
        yield app
        db.session.rollback()


# --- how many tests ran on each database ---------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    callspec = getattr(item, "callspec", None)
    report.database = callspec.params.get("database_url", "no database") if callspec else "no database"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    counts: dict[str, Counter[str]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            database = getattr(report, "database", "no database")
            counts.setdefault(database, Counter())[outcome] += 1
    if not counts:
        return
    terminalreporter.section("tests per database")
    for database in ("sqlite", "postgresql", "no database"):
        if database in counts:
            parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts[database].items()))
            terminalreporter.write_line(f"{database}: {parts}")
