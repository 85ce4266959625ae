"""What the browser journeys share: the real server, Chromium, keyboard-only driving, axe-core and screenshots.

- `LiveServer`: the app under gunicorn in its own process on 127.0.0.1, on the test run's database.
- `launch_chromium`: Debian's Chromium through Playwright (never a downloaded browser).
- `Journey`: one story told by several people, each in their own browser context. Every page that any of them
  reaches is checked with axe-core (`Journey.seen`), and the journey fails if a page was reached without that check,
  if a page logs a Content-Security-Policy violation or a script error, or if axe finds a serious or critical
  violation. `Journey.seen` also measures every page at each width of WIDTHS and fails when it scrolls sideways
  (`document.documentElement.scrollWidth` above the viewport's width), naming the widest element; on the way it
  saves the page at each width, numbered in the order reached (artifacts/screenshots/<journey>/<nn>-<label>-<width>
  .png). `Journey.outside` marks a page that is not the product's (not checked with axe-core; saved at every width).
- `Keys`: drives a page with the keyboard only (Tab to an element, then type, Enter or Space).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess  # nosec B404  # starts our own server process
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Frame, Locator, Page, Playwright, Route

from tests.conftest import TEST_PASSWORD

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FUNDCIRCLE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: The page asks its own origin for this path; the tests answer it from node_modules, so CSP stays on.
AXE_URL_PATH = "/__test-tools__/axe.min.js"
ARTIFACTS = PROJECT_ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
#: Every page a journey reaches is saved (and measured) at these viewports: a small phone, a common phone, a desktop.
WIDTHS = {"small-phone": (360, 780), "phone": (390, 844), "desktop": (1280, 900)}
BLOCKING_IMPACTS = ("serious", "critical")
#: How wide the page is, and which element sticks out furthest to the right (the deepest one of those that stick out
#: furthest, so that it names the long hash rather than the <main> around it), as a selector a person can look up.
MEASURE_OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const scrollWidth = document.documentElement.scrollWidth;
    let widest = null, right = width;
    for (const element of document.body.querySelectorAll('*')) {
        const edge = element.getBoundingClientRect().right;
        if (edge >= right && edge > width) { widest = element; right = edge; }
    }
    const describe = element => {
        let name = element.tagName.toLowerCase();
        if (element.id) return name + '#' + element.id;
        for (const cls of element.classList) name += '.' + cls;
        const parent = element.parentElement;
        if (parent) {
            const same = Array.from(parent.children).filter(child => child.tagName === element.tagName);
            if (same.length > 1) name += ':nth-of-type(' + (same.indexOf(element) + 1) + ')';
        }
        return name;
    };
    const path = [];
    for (let element = widest; element && element !== document.body && path.length < 4;
         element = element.parentElement) {
        path.unshift(describe(element));
        if (element.id) break;
    }
    return {width, scrollWidth, widest: path.join(' > '), right: Math.round(right)};
}"""


def missing_tools() -> list[str]:
    """What the browser tests need and this machine lacks, each with the command that provides it."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(
            f"Chromium is not at {CHROMIUM}: `make test` installs Debian's package when run as root; otherwise run "
            "`sudo apt-get install --no-install-recommends chromium` (or set FUNDCIRCLE_CHROMIUM to its path)"
        )
    if not AXE_SCRIPT.exists():
        missing.append(f"axe-core is not at {AXE_SCRIPT}: run `npm ci` in {PROJECT_ROOT} (`make test` does)")
    return missing


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)


# --- the server ----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """gunicorn serving `tests.browser.server:build()` on a free port of 127.0.0.1, until `stop()`."""

    database_url: str
    log_path: Path
    #: More environment for the server process (e.g. FUNDCIRCLE_TEST_SERVER_MAIL_PORT, see server.py).
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.port = _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "FUNDCIRCLE_TEST_SERVER_DATABASE_URL": self.database_url,
            "FUNDCIRCLE_ENV": "development",
            "FUNDCIRCLE_TEST_SERVER_BASE_URL": self.url,
            **self.extra_env,
        }
        command = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1", "--threads", "4",
            "--access-logfile", "-", "--log-level", "warning",
            "tests.browser.server:build()",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # nosec B603  # a fixed command: our app under gunicorn
                command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the test server exited at start: see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=2) as response:  # nosec B310  # our server
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the test server did not answer within {timeout} s: see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


# --- keyboard-only driving -----------------------------------------------------------------------------------------


class Keys:
    """Drive one page with the keyboard alone. `reach` presses Tab until the element has the focus, as a person who
    cannot use a mouse does; it fails if the element is not reachable that way."""

    MAX_TABS = 150

    def __init__(self, page: Page) -> None:
        self.page = page

    def reach(self, target: Locator) -> Locator:
        target = target.first if target.count() > 1 else target
        if target.count() == 0:
            raise AssertionError(f"nothing on {self.page.url} matches {target}")
        if target.evaluate("el => el === document.activeElement"):
            return target
        # Shift+Tab when the focus is past the element, as a person would go back.
        backwards = target.evaluate(
            "el => document.activeElement !== document.body && "
            "!!(el.compareDocumentPosition(document.activeElement) & Node.DOCUMENT_POSITION_FOLLOWING)"
        )
        key = "Shift+Tab" if backwards else "Tab"
        for _ in range(self.MAX_TABS):
            self.page.keyboard.press(key)
            if target.evaluate("el => el === document.activeElement"):
                return target
        raise AssertionError(f"{target} on {self.page.url} cannot be reached with the Tab key")

    def type(self, target: Locator, text: str) -> None:
        self.reach(target)
        if len(text) > 40:
            self.page.keyboard.insert_text(text)  # as a paste or an input method would: fast, still no mouse
        else:
            self.page.keyboard.type(text)

    def replace(self, target: Locator, text: str) -> None:
        """Select what the field holds (Ctrl+A) and type over it."""
        self.reach(target)
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.press("Delete")
        if len(text) > 40:
            self.page.keyboard.insert_text(text)
        else:
            self.page.keyboard.type(text)

    def enter(self, target: Locator) -> None:
        self.reach(target)
        self.page.keyboard.press("Enter")

    def space(self, target: Locator) -> None:
        self.reach(target)
        self.page.keyboard.press(" ")

    def follow(self, target: Locator) -> None:
        """Activate a link or a submit button with Enter and wait for the page it leads to."""
        self.reach(target)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def choose(self, select: Locator, label: str) -> None:
        """Pick an option of a <select> by its text, with the arrow keys."""
        self.reach(select)
        options: list[str] = select.evaluate("el => Array.from(el.options).map(o => o.text)")
        index = options.index(label)
        current: int = select.evaluate("el => el.selectedIndex")
        step = "ArrowDown" if index > current else "ArrowUp"
        for _ in range(abs(index - current)):
            self.page.keyboard.press(step)
        assert select.evaluate("el => el.selectedIndex") == index


# --- journeys ------------------------------------------------------------------------------------------------------


@dataclass
class _Watch:
    """What one page did since it was last checked."""

    pending: str | None = None
    unchecked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Journey:
    """One story with several people in one browser; see the module docstring."""

    def __init__(self, browser: Browser, server: LiveServer, name: str, axe_log: list[dict[str, Any]]) -> None:
        self.browser = browser
        self.server = server
        self.name = name
        self.axe_log = axe_log
        self.contexts: list[BrowserContext] = []
        self.watches: dict[int, _Watch] = {}
        self.pages_checked: list[str] = []
        self.screenshots: list[Path] = []
        self.shots_taken = 0

    # people

    def open_page(self, locale: str | None = None) -> Page:
        """A new browser context (a person); `locale` is the browser's language (its Accept-Language)."""
        options: dict[str, Any] = {"locale": locale} if locale else {}
        context = self.browser.new_context(base_url=self.server.url, viewport={"width": 1280, "height": 900}, **options)
        context.route(f"**{AXE_URL_PATH}", self._serve_axe)
        self.contexts.append(context)
        page = context.new_page()
        watch = _Watch()
        self.watches[id(page)] = watch

        def navigated(frame: Frame) -> None:
            if frame is not page.main_frame:
                return
            if watch.pending is not None and watch.pending != frame.url:
                watch.unchecked.append(watch.pending)
            watch.pending = frame.url

        def console(message: ConsoleMessage) -> None:
            if message.type == "error" and "Content Security Policy" in message.text:
                watch.problems.append(f"{page.url}: {message.text}")

        page.on("framenavigated", navigated)
        page.on("console", console)
        page.on("pageerror", lambda error: watch.problems.append(f"{page.url}: script error {error}"))
        return page

    def log_in(self, email: str, password: str = TEST_PASSWORD) -> Page:
        """A new browser context for this person, logged in through the log-in page with the keyboard."""
        page = self.open_page()
        page.goto("/login")
        self.seen(page, "log-in")
        keys = Keys(page)
        keys.type(page.get_by_label("E-mail address"), email)
        keys.type(page.get_by_label("Password"), password)
        keys.follow(page.get_by_role("button", name="Log in"))
        assert page.get_by_text("Welcome,").is_visible(), f"log-in as {email} failed on {page.url}"
        self.seen(page, "home")
        return page

    # checks

    def _serve_axe(self, route: Route) -> None:
        route.fulfill(path=str(AXE_SCRIPT), content_type="application/javascript")

    def seen(self, page: Page, label: str, *, screenshot: bool = True) -> list[dict[str, Any]]:
        """Check the page as it is now with axe-core, and save it at every width (unless screenshot=False). Returns
        every violation (of any impact); fails on serious or critical ones."""
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=AXE_URL_PATH)
        violations: list[dict[str, Any]] = page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ['violations']});
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
                }));
            }"""
        )
        path = page.url.removeprefix(self.server.url)
        for violation in violations:
            self.axe_log.append({"journey": self.name, "page": label, "path": path, **violation})
        self.pages_checked.append(path)
        watch = self.watches[id(page)]
        watch.pending = None
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe-core on {label} ({path}): " + json.dumps(blocking, indent=1)
        self.fits(page, label, screenshot=screenshot)
        return violations

    def fits(self, page: Page, label: str, *, screenshot: bool = True) -> None:
        """At each width of WIDTHS (the same page, resized: the journey is not run again), the page must not scroll
        sideways; it is saved at each width on the way, so that an overflow can be seen as well as read."""
        folder = SCREENSHOTS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        original = page.viewport_size
        if screenshot:
            # Numbered so that a label reached twice (each person's home page) does not overwrite the first one.
            self.shots_taken += 1
        overflows = []
        path = page.url.removeprefix(self.server.url)
        for width, height in WIDTHS.values():
            page.set_viewport_size({"width": width, "height": height})
            measured: dict[str, Any] = page.evaluate(MEASURE_OVERFLOW)
            if measured["scrollWidth"] > width:
                overflows.append(
                    f"{label} ({path}) is {measured['scrollWidth']} px wide at {width} px: the widest element is "
                    f"{measured['widest'] or 'unknown'} (its right edge at {measured['right']} px)"
                )
            if screenshot:
                target = folder / f"{self.shots_taken:02d}-{label}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                self.screenshots.append(target)
        if original:
            page.set_viewport_size(original)
        assert not overflows, "the page scrolls sideways: " + "; ".join(overflows)

    def outside(self, page: Page, label: str) -> None:
        """The page as it is now belongs to something that is not the product (the Open Collective sandbox's page,
        where a test plays the host): it is not checked with axe-core, only saved at both widths."""
        page.wait_for_load_state("load")
        assert not page.url.startswith(self.server.url + "/"), f"{page.url} is the product's: use `seen`"
        self.watches[id(page)].pending = None
        self.screenshot(page, label)

    def screenshot(self, page: Page, label: str) -> None:
        folder = SCREENSHOTS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        original = page.viewport_size
        # Numbered so that a label reached twice (the home page of each person) does not overwrite the first one.
        self.shots_taken += 1
        for width, height in WIDTHS.values():
            page.set_viewport_size({"width": width, "height": height})
            target = folder / f"{self.shots_taken:02d}-{label}-{width}.png"
            page.screenshot(path=str(target), full_page=True)
            self.screenshots.append(target)
        if original:
            page.set_viewport_size(original)

    def finish(self) -> None:
        """Every page reached was checked, and no page broke its Content-Security-Policy or threw."""
        problems = []
        for watch in self.watches.values():
            problems += [f"reached without an accessibility check: {url}" for url in watch.unchecked]
            if watch.pending is not None and watch.pending != "about:blank":
                problems.append(f"reached without an accessibility check: {watch.pending}")
            problems += watch.problems
        for context in self.contexts:
            context.close()
        self.watches, self.contexts = {}, []  # reported once
        assert not problems, "\n".join(problems)


def journeys_of(browser: Browser, server: LiveServer, axe_log: list[dict[str, Any]]) -> Iterator[Any]:
    """A factory of journeys for one test; each one is finished (and checked) when the test ends well."""
    made: list[Journey] = []

    def make(name: str) -> Journey:
        journey = Journey(browser, server, name, axe_log)
        made.append(journey)
        return journey

    yield make
    for journey in made:
        journey.finish()
