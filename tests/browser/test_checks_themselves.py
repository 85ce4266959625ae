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


WIDE_PAGE = """<!doctype html><html lang="en"><head><title>Wide</title></head>
<body><main><h1>Wide</h1><p>Fits.</p><p><code class="receipt">{}</code></p></main></body></html>""".format(
    "7f3a9c21b4" * 12
)


def test_a_page_that_scrolls_sideways_on_a_phone_fails_and_names_its_widest_element(app: Flask, journey: Any) -> None:
    story = journey("self-check")
    page = story.open_page()
    page.route("**/wide-page", lambda route: route.fulfill(body=WIDE_PAGE, content_type="text/html"))
    page.goto("/wide-page")
    with pytest.raises(AssertionError) as failure:
        story.seen(page, "wide-page")
    message = str(failure.value)
    # Too wide at both phone widths, not on the desktop, and the culprit is named by its selector.
    assert "at 360 px" in message and "at 390 px" in message and "at 1280 px" not in message
    assert "code.receipt" in message and "/wide-page" in message
    assert page.viewport_size == {"width": 1280, "height": 900}  # the journey goes on at the width it had


def test_a_page_that_fits_passes_at_every_width_and_is_saved_at_each(app: Flask, journey: Any) -> None:
    story = journey("self-check")
    page = story.open_page()
    page.route(
        "**/fitting-page",
        lambda route: route.fulfill(
            body=WIDE_PAGE.replace("<code", "<code style='overflow-wrap:anywhere'"), content_type="text/html"
        ),
    )
    page.goto("/fitting-page")
    story.seen(page, "fitting-page")
    assert sorted(path.name.split("-")[-1] for path in story.screenshots[-3:]) == ["1280.png", "360.png", "390.png"]
