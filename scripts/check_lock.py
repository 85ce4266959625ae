"""Check that the lock files in requirements/ agree with the pyproject files they were made from (`make lock`).

They agree when every dependency a pyproject declares is pinned in the lock to a version its range allows, and
every package the lock pins because a pyproject asked for it is still asked for. Nothing is downloaded: this reads
files only, so CI can fail on a forgotten `make lock` before installing anything.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a fresh virtual environment, before the lock is installed: pip's own copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
SANDBOX = Path("devtools/oc_sandbox/pyproject.toml")
#: Each lock file and the pyproject files (and extras of the first) it is made from.
LOCKS: dict[str, tuple[list[Path], list[str]]] = {
    "requirements/runtime.txt": ([Path("pyproject.toml")], []),
    "requirements/run.txt": ([Path("pyproject.toml"), SANDBOX], []),
    "requirements/dev.txt": ([Path("pyproject.toml"), SANDBOX], ["dev"]),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
VIA_SOURCE = re.compile(r"\((\S*pyproject\.toml)\)")


@dataclass
class Pin:
    version: str
    sources: set[str] = field(default_factory=set)


def read_lock(path: Path) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = pins[canonicalize_name(match.group(1))] = Pin(match.group(2))
        elif current is not None and line.lstrip().startswith("#"):
            current.sources.update(VIA_SOURCE.findall(line))
    return pins


def declared(pyprojects: list[Path], extras: list[str]) -> dict[str, tuple[Requirement, str]]:
    wanted: dict[str, tuple[Requirement, str]] = {}
    for number, pyproject in enumerate(pyprojects):
        project = tomllib.loads((ROOT / pyproject).read_text(encoding="utf-8"))["project"]
        texts = list(project.get("dependencies", []))
        if number == 0:
            for extra in extras:
                texts += project.get("optional-dependencies", {}).get(extra, [])
        for text in texts:
            requirement = Requirement(text)
            wanted[canonicalize_name(requirement.name)] = (requirement, str(pyproject))
    return wanted


def disagreements(lock: str, pyprojects: list[Path], extras: list[str]) -> list[str]:
    path = ROOT / lock
    if not path.exists():
        return [f"{lock} is missing: run `make lock`"]
    pins = read_lock(path)
    problems = []
    wanted = declared(pyprojects, extras)
    for name, (requirement, source) in sorted(wanted.items()):
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{lock}: {source} asks for {requirement} but the lock has no {name}")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{lock}: {source} asks for {requirement} but the lock pins {name}=={pin.version}")
    sources = {str(pyproject) for pyproject in pyprojects}
    for name, pin in sorted(pins.items()):
        if name not in wanted and pin.sources & sources:
            problems.append(
                f"{lock}: pins {name}=={pin.version} for {', '.join(sorted(pin.sources))}, which no longer asks for it"
            )
    return problems


def main() -> int:
    problems = [
        problem for lock, (pyprojects, extras) in LOCKS.items() for problem in disagreements(lock, pyprojects, extras)
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("The lock files disagree with pyproject: run `make lock` and commit requirements/.", file=sys.stderr)
        return 1
    counts = ", ".join(f"{lock} ({len(read_lock(ROOT / lock))} pins)" for lock in LOCKS)
    print(f"The lock files agree with pyproject: {counts}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
