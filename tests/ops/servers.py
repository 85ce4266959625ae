"""Fresh databases and gunicorn processes for the tests of hosting: the start-up commands as a host runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a new PostgreSQL database on TEST_DATABASE_URL's server (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'fresh-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    server = os.environ["TEST_DATABASE_URL"]
    name = f"fc_ops23_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def command_environment(**settings: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("FUNDCIRCLE_", "FLASK_"))}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "devtools" / "oc_sandbox")])
    environment.update(settings)
    return environment


def run_flask(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flask", "--app", "fundcircle", *arguments]
    return subprocess.run(command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120)


@contextmanager
def gunicorn(environment: dict[str, str], app: str, log: Path) -> Iterator[str]:
    """gunicorn with the hosts' configuration (deploy/gunicorn.conf.py) on a free port; its address."""
    port = free_port()
    environment = dict(environment, BIND=f"127.0.0.1:{port}")
    command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), app]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{address}/healthz", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def worker(environment: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The background worker, started as the hosts start it (`flask --app fundcircle worker`), stopped after."""
    command = [sys.executable, "-m", "flask", "--app", "fundcircle", "worker"]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
