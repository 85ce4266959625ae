"""The journeys' checks can fail: axe-core finds a serious violation, and a page reached unchecked is reported."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.browser.conftest import on_browser_database

pytestmark = on_browser_database

BAD_PAGE = """<!doctype html><html lang="en"><head><title>Bad</title></head>
<body><main><h1>Bad</h1><img src="/static/none.png"><form><input type="text" name="q"></form></main></body></html>"""


def test_axe_core_reports_a_serious_violation_on_a_page_that_has_one(app: Flask, journey: Any) -> None:
    story = journey("self-check")
    page = story.open_page()
    page.route("**/bad-page", lambda route: route.fulfill(body=BAD_PAGE, content_type="text/html"))
    page.goto("/bad-page")
    with pytest.raises(AssertionError) as failure:
        story.seen(page, "bad-page")
    assert "image-alt" in str(failure.value) and "label" in str(failure.value)


def test_a_page_reached_without_an_accessibility_check_fails_the_journey(app: Flask, journey: Any) -> None:
    story = journey("self-check")
    page = story.open_page()
    page.goto("/login")
    story.seen(page, "log-in")
    page.goto("/login?again=1")  # not checked
    page.goto("/login")
    story.seen(page, "log-in")
    with pytest.raises(AssertionError, match=r"reached without an accessibility check: .*again=1"):
        story.finish()
