"""Attacks as a browser meets them: stored XSS on every page that shows stored text, and log-in's `next`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Dialog

from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import make_user
from tests.worlds.xss import build_xss_world

pytestmark = on_browser_database


def test_stored_payloads_run_nothing_and_add_no_element_in_a_real_browser(app: Flask, journey: Any) -> None:
    with app.app_context():
        world = build_xss_world()
    story = journey("xss")
    dialogs: list[str] = []
    for who, pages in world.pages.items():
        page = story.log_in(world.emails[who])
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for url in pages:
            page.goto(url)
            story.seen(page, f"{who}-{url.strip('/').replace('/', '-').split('?')[0] or 'home'}")
            injected = page.evaluate("() => document.querySelectorAll('[data-xss]').length")
            assert injected == 0, f"{who}: {url} has {injected} injected elements"
            if url.startswith("/proposals/") and "diff" not in url:
                heading = page.get_by_role("heading", level=1).inner_text()
                assert heading.startswith("<img src=x"), f"the title is shown as text: {heading!r}"
    assert dialogs == []


OFF_SITE = [
    "https://evil.example/", "//evil.example/", "/\\evil.example/", "\\/evil.example/", "/\t/evil.example/",
    " //evil.example/", "https:evil.example", "/.//evil.example/", "javascript:alert(1)", "/%2F%2Fevil.example/",
]  # fmt: skip


@pytest.mark.parametrize("target", OFF_SITE, ids=range(len(OFF_SITE)))
def test_log_in_never_takes_the_browser_to_another_site(app: Flask, journey: Any, target: str) -> None:
    with app.app_context():
        make_user(email="someone@example.org")
    story = journey("open-redirect")
    page = story.open_page()
    dialogs: list[Dialog] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog), dialog.dismiss()))
    page.goto(f"/login?next={quote(target, safe='')}")
    story.seen(page, "log-in")
    keys = Keys(page)
    keys.type(page.get_by_label("E-mail address"), "someone@example.org")
    keys.type(page.get_by_label("Password"), "correct horse battery")
    keys.follow(page.get_by_role("button", name="Log in"))
    story.seen(page, "after-log-in")
    assert urlsplit(page.url).netloc == urlsplit(story.server.url).netloc, f"{target!r} led to {page.url}"
    assert dialogs == []
