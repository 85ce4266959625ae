"""Stored XSS: every text field that is shown back holds markup, and no page turns it into markup."""

from __future__ import annotations

from flask import Flask

from tests.conftest import Client
from tests.worlds.xss import build_xss_world, injected_elements


def test_no_page_turns_stored_text_into_markup(app: Flask) -> None:
    with app.app_context():
        world = build_xss_world()
    found = []
    for who, pages in world.pages.items():
        client: Client = app.test_client()  # type: ignore[assignment]
        client.login(world.emails[who])
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, f"{who}: {url} gave {response.status_code}"
            html = response.get_data(as_text=True)
            assert "&lt;img src=x" in html or "data-xss" not in html, f"{who}: {url} shows no payload at all"
            found += [f"{who} {url}: {element}" for element in injected_elements(html)]
    assert not found, "\n".join(found)


def test_the_detector_finds_markup_that_a_payload_became() -> None:
    assert len(injected_elements('<p><img src=x onerror=alert(1) data-xss="t"></p>')) == 2
    assert injected_elements('<a href=" JavaScript:alert(1)">x</a>')
    assert injected_elements('<p title="&lt;img data-xss=&quot;t&quot;&gt;">&lt;img src=x data-xss="t"&gt;</p>') == []
