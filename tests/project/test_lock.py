"""The lock files (requirements/) agree with the pyproject files, and the check says so when they do not."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the pyproject files and lock files, to edit."""
    for name in ("pyproject.toml", "devtools/oc_sandbox/pyproject.toml", "requirements"):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, target)
    return tmp_path


def _problems(checkout: Path) -> list[str]:
    module = _check_lock()
    module.ROOT = checkout
    return [
        problem
        for lock, (files, extras) in module.LOCKS.items()
        for problem in module.disagreements(lock, files, extras)
    ]


def test_the_committed_lock_files_agree_with_pyproject() -> None:
    result = subprocess.run([sys.executable, "scripts/check_lock.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "The lock files agree with pyproject" in result.stdout


def test_a_dependency_added_to_pyproject_but_not_locked_is_named(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"segno>=1.6,<2",', '"segno>=1.6,<2",\n    "humanize>=4",'))
    problems = _problems(checkout)
    assert "requirements/runtime.txt: pyproject.toml asks for humanize>=4 but the lock has no humanize" in problems
    assert "requirements/dev.txt: pyproject.toml asks for humanize>=4 but the lock has no humanize" in problems


def test_a_range_the_locked_version_is_outside_of_is_named(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"flask>=3.1,<4",', '"flask>=4,<5",'))
    assert any(
        problem.startswith("requirements/runtime.txt: pyproject.toml asks for flask<5,>=4 but the lock pins flask==")
        for problem in _problems(checkout)
    )


def test_a_dependency_removed_from_pyproject_but_still_locked_is_named(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "segno>=1.6,<2",\n', ""))
    assert any(
        problem.startswith("requirements/runtime.txt: pins segno==") and "which no longer asks for it" in problem
        for problem in _problems(checkout)
    )


def test_a_missing_lock_file_says_to_run_make_lock(checkout: Path) -> None:
    (checkout / "requirements" / "run.txt").unlink()
    assert "requirements/run.txt is missing: run `make lock`" in _problems(checkout)
