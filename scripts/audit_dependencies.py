"""Run pip-audit over the locked runtime set (requirements/runtime.txt) and say plainly what it checked.

pip-audit asks a vulnerability service (PyPI's JSON API by default) about each pinned package of the lock, which is
what the container and `make install` install. Where the service does not answer (from the project's CI machine,
PyPI's per-version JSON API answers 404 and api.osv.dev does not resolve), pip-audit skips every package and still
says "No known vulnerabilities found". This wrapper counts what was really audited and:

- fails on any known vulnerability, naming the package, the advisory and the fixed versions;
- fails when some packages could not be checked, unless PIP_AUDIT_ACCEPT_UNCHECKED=1 says that is accepted, in which
  case it says, on every run, that those packages were NOT checked.

Arguments are passed on to pip-audit (e.g. `-s osv --osv-url URL`); AUDIT_LOCK_FILE names another lock file to audit
(tests/project/test_audit_script.py gives it a small one).
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # runs pip-audit, a fixed command
import sys
from pathlib import Path

DEFAULT_LOCK = Path(__file__).resolve().parent.parent / "requirements" / "runtime.txt"
LOCK_SETTING = "AUDIT_LOCK_FILE"
ACCEPT_SETTING = "PIP_AUDIT_ACCEPT_UNCHECKED"


def main(argv: list[str]) -> int:
    lock = Path(os.environ.get(LOCK_SETTING) or DEFAULT_LOCK)
    command = [sys.executable, "-m", "pip_audit", "--requirement", str(lock), "--disable-pip", "--progress-spinner"]
    command += ["off", "--format", "json", *argv]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603  # fixed argv
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(result.stderr[-2000:] or result.stdout[-2000:])
        print(f"pip-audit failed (exit {result.returncode}) before reporting anything: nothing was checked.")
        return 1
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    print(
        f"pip-audit over {lock.name} ({len(dependencies)} locked runtime packages): {len(audited)} checked, "
        f"{len(skipped)} not checked, {len(vulnerable)} with known vulnerabilities."
    )
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            # pip-audit names an advisory by its CVE where it has one; its other ids (GHSA, PYSEC) are what the
            # package's changelog and GitHub's alerts use.
            also = f" (also {', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
            print(f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']}{also} (fixed in {fixes})")
    if vulnerable:
        return 1
    if skipped:
        print(f"NOT CHECKED: {', '.join(d['name'] for d in skipped)}. First reason: {skipped[0]['skip_reason']}")
        if os.environ.get(ACCEPT_SETTING) == "1":
            print(f"{ACCEPT_SETTING}=1 accepts that: these packages have NOT been checked for known vulnerabilities.")
            return 0
        print(
            f"Failing: the vulnerability service did not answer for them. Run where it can be reached, or set "
            f"{ACCEPT_SETTING}=1 to accept an audit that did not check them."
        )
        return 1
    print("No known vulnerabilities in any locked runtime package.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
