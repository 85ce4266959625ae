"""`make security`'s dependency audit (scripts/audit_dependencies.py) says what it checked, run as `make` runs it.

pip-audit's vulnerability services are on the internet, which this machine cannot reach, so their stand-ins here:
- a local OSV service (the API of api.osv.dev, `POST /v1/query`) answering fixed reports, which the real pip-audit
  queries with `-s osv --osv-url`: a vulnerable package and a clean audit;
- an OSV address on which nothing listens: the real pip-audit cannot reach its service at all;
- PyPI's JSON API answering 404 for every package is what makes the real pip-audit skip them (the case `make
  security` met in CI), and pip-audit only asks https://pypi.org for it; so a `pip_audit` module put first on
  PYTHONPATH prints the report pip-audit prints then (its JSON format, the packages of the lock it was given, its
  skip reason), a stand-in for that service's answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.ops.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "audit_dependencies.py"

# Two packages of the real lock file, pinned and hashed as pip-compile writes them.
LOCK = """\
idna==3.20 \\
    --hash=sha256:a7db850025b95ded1eae8a46181a1a6c56c92c96f0e2b005d9ff8dc0210cab44
markupsafe==3.0.4 \\
    --hash=sha256:007e1ffd9bf65bb6ee96df7b258fc632a4868dd5566037986c64781f35a36e98
"""

ADVISORY = {
    "id": "GHSA-9x4q-3gxw-8w2h",
    "aliases": ["CVE-2026-31337"],
    "summary": "Markup escaping can be bypassed",
    "affected": [
        {
            "package": {"name": "markupsafe", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.5"}]}],
        }
    ],
}

SKIPPING_PIP_AUDIT = '''\
"""Prints what pip-audit prints when PyPI's JSON API answers 404 for every package of the requirement file."""
import json
import re
import sys

requirements = sys.argv[sys.argv.index("--requirement") + 1]
pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^ \\\\]+)", open(requirements).read(), re.MULTILINE)
print(json.dumps({"dependencies": [
    {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} ({version})"}
    for name, version in pins
], "fixes": []}))
'''


@dataclass
class Run:
    status: int
    output: str


@dataclass
class OsvStandIn:
    url: str
    #: The OSV answer for each package name; a package not listed has no known vulnerability.
    answers: dict[str, dict[str, Any]]
    queried: list[str]


@pytest.fixture
def osv() -> Iterator[OsvStandIn]:
    stand_in = OsvStandIn(url="", answers={}, queried=[])

    @Request.application  # type: ignore[arg-type]
    def application(request: Request) -> Response:
        query = json.loads(request.get_data())
        name = query["package"]["name"]
        stand_in.queried.append(f"{name}=={query['version']}")
        return Response(json.dumps(stand_in.answers.get(name, {})), content_type="application/json")

    server = make_server("127.0.0.1", 0, application)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_port}/v1/query"
    yield stand_in
    server.shutdown()
    thread.join(timeout=10)


def _audit(tmp_path: Path, *arguments: str, accept: bool = False, fake_pip_audit: bool = False) -> Run:
    tmp_path.mkdir(exist_ok=True)
    lock = tmp_path / "runtime.txt"
    lock.write_text(LOCK)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_AUDIT")}
    environment["AUDIT_LOCK_FILE"] = str(lock)
    if accept:
        environment["PIP_AUDIT_ACCEPT_UNCHECKED"] = "1"
    if fake_pip_audit:
        package = tmp_path / "stand_in" / "pip_audit"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "__main__.py").write_text(SKIPPING_PIP_AUDIT)
        environment["PYTHONPATH"] = os.pathsep.join([str(package.parent), environment.get("PYTHONPATH", "")])
    command = [sys.executable, str(SCRIPT), "--cache-dir", str(tmp_path / "cache"), *arguments]
    result = subprocess.run(command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return Run(result.returncode, result.stdout + result.stderr)


def test_packages_the_service_did_not_check_fail_the_audit_and_are_named(tmp_path: Path) -> None:
    run = _audit(tmp_path, fake_pip_audit=True)
    assert run.status == 1, run.output
    assert "runtime.txt (2 locked runtime packages): 0 checked, 2 not checked" in run.output
    assert "NOT CHECKED: idna, markupsafe." in run.output
    assert "Dependency not found on PyPI and could not be audited: idna (3.20)" in run.output
    assert "Failing: the vulnerability service did not answer" in run.output
    assert "No known vulnerabilities" not in run.output


def test_accepting_unchecked_packages_passes_and_says_they_were_not_checked(tmp_path: Path) -> None:
    run = _audit(tmp_path, accept=True, fake_pip_audit=True)
    assert run.status == 0, run.output
    assert "NOT CHECKED: idna, markupsafe." in run.output
    assert "PIP_AUDIT_ACCEPT_UNCHECKED=1 accepts that: these packages have NOT been checked" in run.output
    assert "No known vulnerabilities" not in run.output


def test_a_known_vulnerability_fails_naming_the_package_the_advisory_and_the_fix(
    tmp_path: Path, osv: OsvStandIn
) -> None:
    osv.answers["markupsafe"] = {"vulns": [ADVISORY]}
    run = _audit(tmp_path, "-s", "osv", "--osv-url", osv.url)
    assert sorted(osv.queried) == ["idna==3.20", "markupsafe==3.0.4"]  # the lock's pins, asked of the service
    assert run.status == 1, run.output
    assert "2 checked, 0 not checked, 1 with known vulnerabilities" in run.output
    assert "VULNERABLE markupsafe 3.0.4: CVE-2026-31337 (also GHSA-9x4q-3gxw-8w2h) (fixed in 3.0.5)" in run.output
    assert "VULNERABLE idna" not in run.output
    # Accepting unchecked packages does not accept a vulnerability.
    assert _audit(tmp_path / "again", "-s", "osv", "--osv-url", osv.url, accept=True).status == 1


def test_a_fully_checked_clean_audit_passes(tmp_path: Path, osv: OsvStandIn) -> None:
    run = _audit(tmp_path, "-s", "osv", "--osv-url", osv.url)
    assert run.status == 0, run.output
    assert "2 checked, 0 not checked, 0 with known vulnerabilities" in run.output
    assert "No known vulnerabilities in any locked runtime package." in run.output
    assert "NOT CHECKED" not in run.output


def test_a_service_that_cannot_be_reached_at_all_fails_and_says_nothing_was_checked(tmp_path: Path) -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}/v1/query"
    run = _audit(tmp_path, "-s", "osv", "--osv-url", nobody_listens, "--timeout", "5", accept=True)
    assert run.status == 1, run.output
    assert "before reporting anything: nothing was checked" in run.output
    assert "No known vulnerabilities" not in run.output
