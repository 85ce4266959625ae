"""What production gets: an app that loads neither the Open Collective sandbox (a development tool, devtools/oc_sandbox)
nor graphql-core, a `flask` command line without `oc-sandbox`, and a wheel that serves its pages, stylesheet and
migrations from outside the checkout.

Each test runs Python in a process of its own, with the environment a production operator sets (config.py:
`FUNDCIRCLE_ENV=production`, a strong `SECRET_KEY`, `DATABASE_URL`), so that nothing this test process has imported
counts, and in `tmp_path`, so that the checkout's `wsgi.py` is not picked up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess  # nosec B404  # runs Python and pip on files of this test
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_SECRET_KEY = "production-like-secret-key-" + "k" * 32
#: Variables of the test run that would point a child at something other than what the test gives it.
NOT_INHERITED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "FLASK_APP", "FLASK_DEBUG", "VIRTUAL_ENV", "DATABASE_URL",
                 "TEST_DATABASE_URL", "FUNDCIRCLE_ENV", "SECRET_KEY", "BASE_URL",
                 "OPENCOLLECTIVE_ALLOW_LOOPBACK")  # fmt: skip


def _environment(database: Path, *, production: bool = True) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env.update(
        FUNDCIRCLE_ENV="production" if production else "development",
        SECRET_KEY=PRODUCTION_SECRET_KEY,
        DATABASE_URL=f"sqlite:///{database}",
        BASE_URL="https://fund.example.org",
        PYTHONUNBUFFERED="1",
    )
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)  # nosec B603


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the product's own process, in this checkout's environment (where the sandbox is installed) ------------------

LOADED_IN_PRODUCTION = """
import json, sys
from fundcircle import create_app

app = create_app()
response = app.test_client().get("/login")
unwanted = sorted(name for name in sys.modules if name.split(".")[0] in {"graphql", "oc_sandbox"})
print(json.dumps({"production": app.config["PRODUCTION"], "login": response.status_code, "unwanted": unwanted}))
"""


def test_creating_the_production_app_loads_neither_the_sandbox_nor_graphql(tmp_path: Path) -> None:
    """The sandbox's distribution is installed here (`make install-dev`): the product does not reach for it."""
    result = _run([sys.executable, "-c", LOADED_IN_PRODUCTION], tmp_path, _environment(tmp_path / "app.sqlite"))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"production": True, "login": 200, "unwanted": []}


CLI_IN_PRODUCTION = """
import json, sys
from flask.cli import main

sys.argv = ["flask", "--app", "fundcircle", "--help"]
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(name for name in sys.modules if name.split(".")[0] == "graphql"
                                                or name == "oc_sandbox.sandbox")}), file=sys.stderr)
"""


def test_flask_in_production_does_not_offer_the_sandbox_and_loads_no_graphql(tmp_path: Path) -> None:
    """Where the sandbox is installed (a developer's machine set to production), `flask --help` lists it only outside
    production. Flask imports the command's module (oc_sandbox.cli, through its entry point) to list it; the sandbox
    itself and graphql-core are not imported."""
    result = _run([sys.executable, "-c", CLI_IN_PRODUCTION], tmp_path, _environment(tmp_path / "app.sqlite"))
    seen = json.loads(result.stderr.strip().splitlines()[-1])
    assert seen == {"code": 0, "loaded": []}, result.stderr
    commands = _listed_commands(result.stdout)
    assert {"db", "payouts", "ledger"} <= commands  # the production app's own commands are listed...
    assert "oc-sandbox" not in commands  # ...and the sandbox is not

    development = _run(
        [sys.executable, "-m", "flask", "--app", "fundcircle", "--help"],
        tmp_path,
        _environment(tmp_path / "app.sqlite", production=False),
    )
    assert development.returncode == 0, development.stderr
    assert "oc-sandbox" in _listed_commands(development.stdout)


def test_the_sandbox_command_refuses_to_run_in_production_when_called_anyway(tmp_path: Path) -> None:
    result = _run(
        [sys.executable, "-m", "flask", "--app", "fundcircle", "oc-sandbox", "--port", "0", "--collective", "fund",
         "--token", "t", "--balance-minor", "100", "--currency", "EUR"],
        tmp_path,
        _environment(tmp_path / "app.sqlite"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "Refusing to run the Open Collective sandbox: FUNDCIRCLE_ENV is production" in result.stderr


def _listed_commands(help_text: str) -> set[str]:
    _, _, listing = help_text.partition("Commands:")
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


# --- the wheel, installed outside the checkout -------------------------------------------------------------------

#: What a checkout holds besides its sources: not copied to the folder the wheel is built from.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build", "dist", "instance", "artifacts",
    "test-artifacts", ".pytest_cache", ".hypothesis", ".schemathesis", ".mypy_cache", ".ruff_cache",
)  # fmt: skip


def _runtime_distributions(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """The distributions installed here that `requirements` (a wheel's Requires-Dist) need, transitively, with the
    extras each is asked for; requirements of other extras (the product's `dev`) are left out."""
    found: dict[str, metadata.Distribution] = {}
    extras_seen: dict[str, set[str]] = {}
    pending: list[tuple[list[str], set[str]]] = [(requirements, set())]
    while pending:
        lines, extras = pending.pop()
        for line in lines:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in {"", *extras}):
                continue
            name = canonicalize_name(requirement.name)
            wanted = set(requirement.extras)
            if name in extras_seen and wanted <= extras_seen[name]:
                continue
            extras_seen.setdefault(name, set()).update(wanted)
            found[name] = metadata.distribution(requirement.name)
            pending.append((found[name].requires or [], extras_seen[name]))
    return found


def _expose(distributions: dict[str, metadata.Distribution], folder: Path) -> None:
    """Link each distribution's top-level files (packages, modules, .dist-info, shared libraries) into `folder`."""
    folder.mkdir()
    for distribution in distributions.values():
        for top in sorted({file.parts[0] for file in distribution.files or ()}):
            if top in {"..", "__pycache__"} or top.endswith(".pth") or (folder / top).exists():
                continue
            (folder / top).symlink_to(Path(str(distribution.locate_file(top))))


def _wait_for_listening(port: int, server: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Until the server accepts connections on `port` (with --preload, gunicorn listens once the app is made)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited at start:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {seconds} s:\n{log.read_text()}")


def _get(url: str, log: Path) -> requests.Response:
    try:
        return requests.get(url, timeout=30)
    except requests.RequestException as error:  # gunicorn drops the connection when even the error page fails
        raise AssertionError(f"GET {url}: {error}\n{log.read_text()}") from error


@pytest.mark.slow
def test_the_wheel_installed_outside_the_checkout_migrates_and_serves_its_pages(tmp_path: Path) -> None:
    """Build the wheel, install it into a new virtual environment outside the checkout, migrate a SQLite database
    with `flask db upgrade` there and serve the login page and its stylesheet with gunicorn, all in production mode.

    Offline and in about 20 seconds: the wheel is built by pip with this environment's setuptools
    (`--no-build-isolation --no-index`) from a copy of the checkout without its caches and environments; the new
    environment (`venv --without-pip`, so without this one's site-packages) gets the wheel alone (`--no-deps`) and,
    through a .pth file, a folder of links to exactly the installed distributions that the wheel's own Requires-Dist
    name, transitively. So a file missing from the wheel fails here, and so does an import of anything the product
    does not declare: the development tools (the sandbox, graphql-core, pytest) are not there.
    """
    source, wheels, venv, home = tmp_path / "source", tmp_path / "wheels", tmp_path / "venv", tmp_path / "home"
    home.mkdir()
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SOURCES, symlinks=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    built = _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(source)],
                 tmp_path, {**os.environ})  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = wheels.glob("fundcircle-*.whl")

    assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, {**os.environ}).returncode == 0
    python = venv / "bin" / "python"
    installed = _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                     tmp_path, {**os.environ})  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    [site_packages] = (venv / "lib").glob("python3*/site-packages")
    [product] = metadata.distributions(name="fundcircle", path=[str(site_packages)])
    _expose(_runtime_distributions(product.requires or []), tmp_path / "dependencies")
    (site_packages / "fundcircle-test-dependencies.pth").write_text(f"{tmp_path / 'dependencies'}\n")

    database = home / "fundcircle.sqlite"
    env = _environment(database)
    where = _run([str(python), "-c", WHERE_IS_THE_PRODUCT], home, env)
    assert where.returncode == 0, where.stderr
    seen: dict[str, Any] = json.loads(where.stdout)
    assert Path(seen["fundcircle"]).is_relative_to(site_packages), seen
    assert seen["missing"] == ["graphql", "oc_sandbox"], seen  # not installed: the product runs without them

    upgraded = _run([str(python), "-m", "flask", "--app", "fundcircle", "db", "upgrade"], home, env)
    assert upgraded.returncode == 0, upgraded.stderr
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"alembic_version", "users", "circles", "payouts", "ledger_entries"} <= tables
        assert len(connection.execute("SELECT version_num FROM alembic_version").fetchall()) == 1

    development = _environment(database, production=False)
    listing = _run([str(python), "-m", "flask", "--app", "fundcircle", "--help"], home, development)
    assert listing.returncode == 0, listing.stderr
    commands = _listed_commands(listing.stdout)
    assert "db" in commands and "oc-sandbox" not in commands  # not hidden: not there at all

    port, log = _free_port(), tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen(  # nosec B603  # the installed app under gunicorn, on loopback
            [str(python), "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--preload",
             "fundcircle:create_app()"],
            cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_listening(port, server, log)
        login = _get(f"{base}/login", log)
        assert login.status_code == 200, log.read_text()
        assert 'name="password"' in login.text
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', login.text)
        assert stylesheet is not None, login.text
        css = _get(base + stylesheet.group(1), log)
        assert css.status_code == 200, log.read_text()
        assert css.headers["Content-Type"].startswith("text/css")
        assert css.content == (PROJECT_ROOT / "fundcircle" / "static" / "css" / "app.css").read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=30)


WHERE_IS_THE_PRODUCT = """
import importlib.util, json
import fundcircle

missing = [name for name in ("graphql", "oc_sandbox") if importlib.util.find_spec(name) is None]
print(json.dumps({"fundcircle": fundcircle.__file__, "missing": missing}))
"""
