"""The official Pabulib checker (`pabulib-checker`, module `pabulib`) over a file the tests export: what
pabulib.org would say if the file were submitted to it."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

from pabulib.checker import Checker


def checker_report(text: str) -> dict[str, dict[str, Any]]:
    """The checker's errors and warnings for one file's text: {"errors": {kind: {n: detail}}, "warnings": ...}."""
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per file it processes
        results = Checker().process_files([text])
    (report,) = (value for key, value in results.items() if key not in ("metadata", "summary"))
    return {"errors": {}, "warnings": {}, **report["results"]}


def assert_checker_accepts(text: str) -> dict[str, Any]:
    """Fail, printing what the checker said and the file, unless it reports no errors; return its warnings."""
    report = checker_report(text)
    assert not report["errors"], (
        "pabulib-checker rejects the exported file:\n"
        + json.dumps(report["errors"], indent=2, ensure_ascii=False)
        + "\n--- the file ---\n"
        + text
    )
    return report["warnings"]
