"""The container's and the systemd units' start-up commands, run here without Docker (the machine has Debian's
docker-compose, which validates compose.yaml, but no Docker daemon to build or run the image)."""

from __future__ import annotations

import configparser
import json
import os
import runpy
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from fundcircle.config import load_config
from tests.ops.servers import (
    GUNICORN_CONFIG,
    ROOT,
    command_environment,
    fresh_database,
    gunicorn,
    run_flask,
    worker,
)

PRODUCTION = {
    "FUNDCIRCLE_ENV": "production",
    "SECRET_KEY": "a-production-secret-key-of-the-deployment-test-0123456789",
    "BASE_URL": "https://fund.example.org",
    "METRICS_TOKEN": "deployment-test-metrics-token",
    "WEB_CONCURRENCY": "2",
}
DATABASES = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL variant: TEST_DATABASE_URL is not set"
        ),
    ),
]


def _compose(*arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    compose = shutil.which("docker-compose")
    assert compose, (
        "docker-compose is missing: `apt-get install --no-install-recommends docker-compose` (make test does)"
    )
    environment = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "BASE_URL")}
    environment.update(settings)
    return subprocess.run(
        [compose, "--file", str(ROOT / "compose.yaml"), *arguments], env=environment, capture_output=True, text=True
    )


def test_compose_file_validates_and_runs_the_migration_once_before_the_app_and_the_worker() -> None:
    result = _compose("config", SECRET_KEY=PRODUCTION["SECRET_KEY"], BASE_URL=PRODUCTION["BASE_URL"])
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"db", "redis", "migrate", "app", "worker"}
    assert services["migrate"]["command"] == ["flask", "--app", "fundcircle", "db", "upgrade"]
    assert services["worker"]["command"] == ["flask", "--app", "fundcircle", "worker"]
    assert services["app"]["command"] == [
        "gunicorn",
        "--config",
        "/etc/fundcircle/gunicorn.conf.py",
        "fundcircle:create_app()",
    ]
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["environment"]["SECRET_KEY"] == PRODUCTION["SECRET_KEY"]
    assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    result = _compose("config", BASE_URL=PRODUCTION["BASE_URL"])
    assert result.returncode != 0
    assert "set SECRET_KEY to a random string of at least 32 characters" in result.stderr


def test_the_image_runs_as_a_user_and_installs_exactly_the_lock() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "USER fundcircle" in lines
    assert any("pip install --no-cache-dir --require-hashes -r /tmp/runtime.txt" in line for line in lines)
    assert any("pip install --no-cache-dir --no-deps /wheels/*.whl" in line for line in lines)
    assert lines[-1] == 'CMD ["gunicorn", "--config", "/etc/fundcircle/gunicorn.conf.py", "fundcircle:create_app()"]'


def test_gunicorns_timeout_outlasts_open_collectives(tmp_path: Path) -> None:
    settings = runpy.run_path(str(GUNICORN_CONFIG))
    config = load_config(tmp_path)
    longest_call = 3 * (config["OPENCOLLECTIVE_CONNECT_TIMEOUT"] + config["OPENCOLLECTIVE_READ_TIMEOUT"])
    assert settings["timeout"] > longest_call > config["OPENCOLLECTIVE_READ_TIMEOUT"]
    assert settings["accesslog"] is None  # the app's own access log, with secrets redacted


def test_the_systemd_units_run_the_app_and_the_worker_as_an_unprivileged_user() -> None:
    units = {}
    for name in ("fundcircle-app", "fundcircle-worker", "fundcircle-backup"):
        unit = configparser.ConfigParser(interpolation=None, strict=False)
        unit.read(ROOT / "deploy" / f"{name}.service")
        units[name] = unit["Service"]
        assert unit["Service"]["User"] == "fundcircle"
        assert unit["Service"]["EnvironmentFile"] == "/etc/fundcircle/fundcircle.env"
    assert units["fundcircle-app"]["ExecStart"].endswith(
        "gunicorn --config /srv/fundcircle/deploy/gunicorn.conf.py fundcircle:create_app()"
    )
    assert units["fundcircle-app"]["ExecStartPre"].endswith("flask --app fundcircle db upgrade")
    assert units["fundcircle-worker"]["ExecStart"].endswith("flask --app fundcircle worker")
    assert "backup --to /var/backups/fundcircle/" in units["fundcircle-backup"]["ExecStart"]


@pytest.mark.parametrize("kind", DATABASES)
def test_the_start_up_commands_serve_a_ready_app_with_json_logs_and_metrics(kind: str, tmp_path: Path) -> None:
    metrics_directory = tmp_path / "metrics"
    with fresh_database(kind, tmp_path) as url:
        environment = command_environment(
            DATABASE_URL=url,
            PROMETHEUS_MULTIPROC_DIR=str(metrics_directory),
            WORKER_QUEUE_PATH=str(tmp_path / "worker-queue.sqlite"),
            **PRODUCTION,
        )
        migrated = run_flask(environment, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        log = tmp_path / "gunicorn.log"
        with gunicorn(environment, "fundcircle:create_app()", log) as address:
            waiting = requests.get(f"{address}/readyz", timeout=10)
            assert waiting.status_code == 503
            assert waiting.json()["checks"]["worker"]["ok"] is False  # no worker has run yet
            with worker(environment, tmp_path / "worker.log") as process:
                ready = _ready_within(address, seconds=60)
                assert process.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            for _ in range(6):  # spread over both workers
                requests.get(f"{address}/healthz", timeout=10)
            scrape = requests.get(
                f"{address}/metrics", headers={"Authorization": f"Bearer {PRODUCTION['METRICS_TOKEN']}"}, timeout=10
            )
            assert scrape.status_code == 200
            samples = [line for line in scrape.text.splitlines() if line.startswith("fundcircle_http_requests_total{")]
            healthz = [line for line in samples if 'route="/healthz"' in line and 'status="200"' in line]
            assert healthz and float(healthz[0].rsplit(" ", 1)[1]) >= 6
            webhook = requests.post(f"{address}/hooks/opencollective/deployment-secret-77", json={}, timeout=10)
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "fundcircle.access"]
    assert {"path": "/readyz", "status": 200, "request_id": ready.headers["X-Request-ID"]}.items() <= next(
        line for line in access if line["request_id"] == ready.headers["X-Request-ID"]
    ).items()
    assert any(
        line["path"] == "/hooks/opencollective/[redacted]" and line["status"] == webhook.status_code for line in access
    )
    assert "deployment-secret-77" not in log.read_text()


def _ready_within(address: str, *, seconds: float) -> requests.Response:
    """/readyz's answer once it is green (the worker's first heartbeat), or its last answer after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        response = requests.get(f"{address}/readyz", timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)
