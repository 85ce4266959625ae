"""The benchmark's floor endpoints exist only in the benchmark's configuration."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from fundcircle import create_app
from fundcircle.auth.models import ThrottleEvent
from fundcircle.extensions import db
from tests.conftest import test_config


def test_the_benchmark_endpoints_are_not_registered_by_default(app: Flask) -> None:
    assert not [rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("benchmark.")]
    assert app.test_client().post("/api/_bench/insert").status_code == 404
    assert app.test_client().get("/api/_bench/ping").status_code == 404


def test_the_environment_cannot_turn_them_on(monkeypatch: Any, database_url: str) -> None:
    monkeypatch.setenv("BENCHMARK_ENDPOINTS", "true")
    monkeypatch.setenv("FUNDCIRCLE_BENCHMARK_ENDPOINTS", "true")
    other = create_app(test_config(database_url))
    with other.app_context():
        db.engine.dispose()
    assert "benchmark.insert_one" not in other.view_functions


def test_in_the_benchmark_configuration_the_insert_endpoint_inserts_and_commits_one_row(make_app: Any) -> None:
    bench_app = make_app(BENCHMARK_ENDPOINTS=True)
    client = bench_app.test_client()
    assert client.post("/api/_bench/insert").status_code == 200
    assert client.get("/api/_bench/ping").status_code == 200
    with bench_app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(ThrottleEvent).where(ThrottleEvent.weight == 0))
    assert rows == 1
