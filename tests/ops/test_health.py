"""/healthz and /readyz: what a load balancer and the host's monitoring ask, answered without secrets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from fundcircle import create_app
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.health import READINESS_CHECKS, register_readiness_check
from fundcircle.worker import WorkerHeartbeat, write_heartbeat
from tests.conftest import test_config


def test_healthz_answers_while_the_process_is_up(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_green_on_a_migrated_database(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": {"ok": True}, "migrations": {"ok": True}, "worker": {"ok": True}},
    }


def test_readyz_says_the_schema_is_missing_on_an_empty_database(tmp_path: Path) -> None:
    app = create_app(test_config(f"sqlite:///{tmp_path / 'empty.sqlite'}"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {
        "ok": False,
        "problem": "the database has no schema yet: run `flask --app fundcircle db upgrade`",
    }


def test_readyz_says_the_schema_is_behind_the_code(app: Flask) -> None:
    with app.app_context():
        (current,) = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'an_older_one'"))
        db.session.commit()
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert "not the code's" in response.get_json()["checks"]["migrations"]["problem"]
    finally:
        with app.app_context():
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": current})
            db.session.commit()


def test_readyz_reports_an_unreachable_database_without_its_address_or_password() -> None:
    url = "postgresql+psycopg://fundcircle:hunter2-database-password@127.0.0.1:1/fundcircle_nowhere"
    app = create_app(test_config(url))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert response.get_json()["checks"]["database"] == {
        "ok": False,
        "problem": "the check failed; the server's log says why",
    }
    for secret in ("hunter2", "127.0.0.1", "fundcircle_nowhere", "psycopg"):
        assert secret not in text
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def worker_check() -> Iterator[None]:
    """A check registered under the worker's name, the real one put back afterwards."""
    real = READINESS_CHECKS["worker"]
    register_readiness_check("worker", lambda _app: "the worker's last heartbeat was 10 minutes ago")
    yield
    register_readiness_check("worker", real)


def test_a_registered_check_that_fails_makes_readyz_red(app: Flask, worker_check: None) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert list(checks) == ["database", "migrations", "worker"]
    assert checks["worker"] == {"ok": False, "problem": "the worker's last heartbeat was 10 minutes ago"}


def test_readyz_is_red_until_a_worker_beats_and_again_when_it_stops(make_app: Callable[..., Flask]) -> None:
    app = make_app(WORKER_IMMEDIATE=False)
    client = app.test_client()
    never = client.get("/readyz")
    assert never.status_code == 503
    assert never.get_json()["checks"]["worker"] == {
        "ok": False,
        "problem": "no background worker has run yet (start `flask --app fundcircle worker`)",
    }
    with app.app_context():
        write_heartbeat(utcnow())
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        db.session.execute(sa.update(WorkerHeartbeat).values(beat_at=utcnow() - timedelta(minutes=4)))
        db.session.commit()
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert "has not shown it is alive" in stale.get_json()["checks"]["worker"]["problem"]
