"""Fixtures for the browser journeys: the live server, Chromium, and journeys checked with axe-core.

The journeys run once, on PostgreSQL where TEST_DATABASE_URL names a reachable server and on SQLite otherwise (each
module parametrises `database_url` with `BROWSER_DATABASE`). The test process seeds data through the `app` fixture,
which empties the database after each test; the server process sees the same database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, sync_playwright

from tests.browser.support import ARTIFACTS, Journey, LiveServer, journeys_of, launch_chromium, missing_tools


def _postgresql_reachable() -> bool:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        return False
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


BROWSER_DATABASE = "postgresql" if _postgresql_reachable() else "sqlite"
#: Put `pytestmark = on_browser_database` in each journey module.
on_browser_database = pytest.mark.parametrize("database_url", [BROWSER_DATABASE], indirect=True)

_axe_log: list[dict[str, Any]] = []


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url, ARTIFACTS / "live-server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = missing_tools()
    if missing:
        pytest.fail("The browser tests cannot run: " + "; ".join(missing), pytrace=False)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.call_failed = report.failed  # type: ignore[attr-defined]


@pytest.fixture
def journey(request: pytest.FixtureRequest, app: Any, browser: Browser, live_server: LiveServer) -> Iterator[Any]:
    """`journey(name)` makes a `Journey`; at the end of a passing test each is checked for pages left unchecked,
    CSP violations and script errors."""
    factory = journeys_of(browser, live_server, _axe_log)
    make = next(factory)
    yield make
    if getattr(request.node, "call_failed", False):
        factory.close()  # the test's own failure says what went wrong
        return
    next(factory, None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every violation axe-core reported, of any impact, for the record (artifacts/axe-violations.json)."""
    if _axe_log:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "axe-violations.json").write_text(json.dumps(_axe_log, indent=1))


__all__ = ["BROWSER_DATABASE", "Journey", "on_browser_database"]
