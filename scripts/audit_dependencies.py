"""Run pip-audit on the project's environment and say plainly how much it could check.

pip-audit asks a vulnerability service (PyPI's JSON API by default) about each installed package. Where that service
cannot be reached, pip-audit skips every package and still says "No known vulnerabilities found"; this wrapper counts
what was really audited, fails on any known vulnerability, and says when nothing could be checked. Set
PIP_AUDIT_REQUIRED=1 to make "nothing could be checked" an error too.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404  # runs pip-audit, a fixed command
import sys


def main(argv: list[str]) -> int:
    command = [sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off", "--format", "json"]
    result = subprocess.run(command + argv, capture_output=True, text=True, check=False)  # nosec B603  # fixed argv
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(result.stderr or result.stdout)
        print(f"pip-audit failed (exit {result.returncode}) before reporting anything", file=sys.stderr)
        return 1
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            print(f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    if vulnerable:
        return 1
    if dependencies and not audited:
        print(
            f"pip-audit could check none of the {len(dependencies)} installed packages: its vulnerability service "
            f"did not answer from this machine ({skipped[0]['skip_reason']}). Nothing is known either way."
        )
        return 1 if os.environ.get("PIP_AUDIT_REQUIRED") == "1" else 0
    print(f"pip-audit: {len(audited)} packages checked, no known vulnerabilities ({len(skipped)} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
