"""The diff page through the test client (issue 17, point 9): the words as they read, diffed word by word with
<ins>/<del>; the Markdown as typed one link away (?view=source, no JavaScript); no template whitespace turned into
gaps; and a member's markup shown as text in both views."""

from __future__ import annotations

import re

from flask import Flask

from tests.conftest import Client
from tests.http.test_proposal_pages import create_through_page, edit_through_page, logged_in, make_site
from tests.rules.test_markdown_and_diff import XSS_PAYLOADS, dangerous_markup

OLD_BODY = "We build **shelves**.\nWe buy seeds.\n\nAna keeps the key."
NEW_BODY = "We build _shelves_.\nWe buy local seeds.\n\nAna keeps the key.\n\n- We lend tools too."


def _two_versions(app: Flask, old: str = OLD_BODY, new: str = NEW_BODY) -> tuple[Client, int]:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id, body=old)
    assert edit_through_page(author, proposal_id, body=new, change_note="Local seeds").status_code == 302
    return author, proposal_id


def _box(page: str, css_class: str) -> str:
    """The diff box and what follows it on the page (it is the page's last part)."""
    start = page.index(f'<div class="{css_class}"')
    return page[start : page.index("</main>", start)]


def _tabs(page: str) -> list[tuple[str, bool, str]]:
    start = page.index('<nav class="tabs"')
    nav = page[start : page.index("</nav>", start)]
    return [
        (href.replace("&amp;", "&"), "aria-current" in attributes, text)
        for href, attributes, text in re.findall(r'<a href="([^"]+)"\s*([^>]*)>([^<]+)</a>', nav)
    ]


def test_the_diff_shows_the_rendered_words_with_what_was_added_and_removed(app: Flask) -> None:
    author, proposal_id = _two_versions(app)
    response = author.get(f"/proposals/{proposal_id}/diff?from=1&to=2")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    box = _box(page, "diff-words")
    # Markdown marks are not shown, and a paragraph's line breaks do not split it: one paragraph, one word added.
    assert (
        '<p class="diff-block diff-paragraph">We build shelves. We buy '
        '<ins><span class="visually-hidden">Added: </span>local</ins> seeds.</p>'
    ) in box
    assert '<p class="diff-block diff-paragraph">Ana keeps the key.</p>' in box
    assert (
        '<p class="diff-block diff-item diff-block-inserted"><ins><span class="visually-hidden">Added: </span>'
        "We lend tools too.</ins></p>"
    ) in box
    assert "**" not in box and "_shelves_" not in box
    assert "Added words are <ins>underlined in green</ins>, removed words <del>struck through in red</del>." in page
    assert _tabs(page) == [
        (f"/proposals/{proposal_id}/diff?from=1&to=2", True, "The words as they read"),
        (f"/proposals/{proposal_id}/diff?view=source&from=1&to=2", False, "The Markdown as typed"),
    ]
    assert 'class="diff"' not in page  # the line-by-line Markdown is the other tab's


def test_a_removed_sentence_is_struck_through_in_its_paragraph(app: Flask) -> None:
    author, proposal_id = _two_versions(app, old="We buy seeds. Ana keeps the key.", new="We buy seeds.")
    box = _box(author.get(f"/proposals/{proposal_id}/diff").get_data(as_text=True), "diff-words")
    assert (
        '<p class="diff-block diff-paragraph">We buy seeds. <del><span class="visually-hidden">Removed: </span>'
        "Ana keeps the key.</del></p>"
    ) in box


def test_the_markdown_as_typed_is_one_link_away_and_shows_lines(app: Flask) -> None:
    author, proposal_id = _two_versions(app)
    words = author.get(f"/proposals/{proposal_id}/diff?from=1&to=2").get_data(as_text=True)
    source_url = _tabs(words)[1][0]
    response = author.get(source_url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert [current for _, current, _ in _tabs(page)] == [False, True]
    box = _box(page, "diff")
    removed = '<div role="listitem" class="diff-removed"><span class="visually-hidden">Removed: </span>− '
    added = '<div role="listitem" class="diff-added"><span class="visually-hidden">Added: </span>+ '
    assert removed + "We build **shelves**.</div>" in box and added + "We build _shelves_.</div>" in box
    assert added + "We buy local seeds.</div>" in box and added + "- We lend tools too.</div>" in box
    assert '<div role="listitem" class="diff-same">&nbsp; Ana keeps the key.</div>' in box
    assert "diff-words" not in page
    # The author's note and the changed fields are the same in both views.
    assert "Local seeds" in page and "Local seeds" in words


def test_no_template_whitespace_becomes_a_gap(app: Flask, client: Client) -> None:
    """The box used to keep every space (white-space: pre-wrap), so the template's indentation between lines showed
    as blank lines. Only a source line keeps its spaces now, and nothing but the line is inside it."""
    author, proposal_id = _two_versions(app)
    source = _box(author.get(f"/proposals/{proposal_id}/diff?view=source").get_data(as_text=True), "diff")
    assert re.findall(r'<div role="listitem" class="diff-[a-z]+">\s', source) == []
    words = _box(author.get(f"/proposals/{proposal_id}/diff").get_data(as_text=True), "diff-words")
    assert re.findall(r"<p [^>]*>\s|\s</p>", words) == []

    response = client.get("/static/css/app.css")
    css = response.get_data(as_text=True)
    response.close()  # a static file is sent from an open file
    rules = dict(re.findall(r"(?m)^([^{}\n/]+?)\s*\{([^}]*)\}", css))
    assert "pre-wrap" not in rules[".diff"]
    assert "pre-wrap" not in rules[".diff-words"]
    assert "pre-wrap" in rules[".diff > div"]  # one line of Markdown keeps its own spaces


def test_only_a_markdown_change_says_the_text_reads_the_same(app: Flask) -> None:
    author, proposal_id = _two_versions(app, old="We buy **seeds**.", new="We buy __seeds__.")
    page = author.get(f"/proposals/{proposal_id}/diff").get_data(as_text=True)
    assert "The text reads the same in both versions. Only its Markdown changed: see “The Markdown as typed”." in page
    assert "diff-words" not in page
    source = author.get(f"/proposals/{proposal_id}/diff?view=source").get_data(as_text=True)
    assert "We buy __seeds__." in source


def test_a_members_markup_is_text_in_both_views(app: Flask) -> None:
    payloads = "\n\n".join(XSS_PAYLOADS)
    author, proposal_id = _two_versions(app, old="Hello.", new=f"Hello.\n\n{payloads}\n\n<iframe src=//evil.example>")
    for view in ("", "&view=source"):
        page = author.get(f"/proposals/{proposal_id}/diff?from=1&to=2{view}").get_data(as_text=True)
        assert dangerous_markup(page) == [], view
        assert "&lt;iframe src=//evil.example&gt;" in page
        assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page


def test_an_unknown_view_shows_the_words(app: Flask) -> None:
    author, proposal_id = _two_versions(app)
    response = author.get(f"/proposals/{proposal_id}/diff?view=%3Cscript%3E")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "diff-words" in page and "<script>" not in page.replace('<script src="', "")


# --- the cost lines --------------------------------------------------------------------------------------------------

LINES_V1 = {
    "cost_lines-0-description": "Seeds",
    "cost_lines-0-amount": "120.00",
    "cost_lines-1-description": "Shelf",
    "cost_lines-1-amount": "95.50",
    "cost_lines-2-description": "Labels",
    "cost_lines-2-amount": "4.50",
}
LINES_V2 = {
    "cost_lines-0-description": "Seeds",
    "cost_lines-0-amount": "150.00",
    "cost_lines-1-description": "Labels",
    "cost_lines-1-amount": "4.50",
    "cost_lines-2-description": "Watering can",
    "cost_lines-2-amount": "20.00",
}


def _costs(page: str) -> str:
    start = page.index('<section class="diff-costs"')
    return page[start : page.index("</section>", start)]


def _cost_rows(section: str) -> list[tuple[str, ...]]:
    """Each changed line's row as (what, what changed, before, after), tags stripped."""
    rows = re.findall(r"<tr class=\"cost-[a-z-]+\">(.*?)</tr>", section, re.S)
    return [
        tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S))
        for row in rows
    ]


def _versions_with_lines(app: Flask, old: dict[str, str], new: dict[str, str], **new_fields: str) -> tuple[Client, int]:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id, amount="", **old)
    changed = edit_through_page(author, proposal_id, change_note="New costs", **{"amount": "", **new, **new_fields})
    assert changed.status_code == 302, changed.get_data(as_text=True)
    return author, proposal_id


def test_the_diff_lists_lines_added_removed_and_changed_and_the_total_in_both_views(app: Flask) -> None:
    author, proposal_id = _versions_with_lines(app, LINES_V1, LINES_V2)
    for view in ("", "&view=source"):
        section = _costs(author.get(f"/proposals/{proposal_id}/diff?from=1&to=2{view}").get_data(as_text=True))
        assert _cost_rows(section) == [
            ("Seeds", "Amount changed", "120.00 EUR", "150.00 EUR"),
            ("Watering can", "Added", "none", "20.00 EUR"),
            ("Shelf", "Removed", "95.50 EUR", "none"),
        ], view
        assert "1 other line stays as it was." in section
        assert "<strong>Total asked:</strong>\n      220.00 EUR → 174.50 EUR." in section
        assert '<table class="stacked cost-lines-diff">' in section  # rows turn into labelled blocks on a phone
        assert 'data-label="Version 1"' in section


def test_unchanged_lines_say_so_and_the_total_reads_the_same_in_both(app: Flask) -> None:
    author, proposal_id = _versions_with_lines(app, LINES_V1, LINES_V1, title="Seed library for all")
    for view in ("", "&view=source"):
        section = _costs(author.get(f"/proposals/{proposal_id}/diff?from=1&to=2{view}").get_data(as_text=True))
        assert "The cost lines are the same in both versions." in section
        assert "<table" not in section
        assert "220.00 EUR in both versions." in section


def test_versions_of_one_sum_say_that_neither_lists_lines(app: Flask) -> None:
    author, proposal_id = _two_versions(app)
    section = _costs(author.get(f"/proposals/{proposal_id}/diff").get_data(as_text=True))
    assert "Neither version lists cost lines: each asks for one sum." in section
    assert "250.00 EUR in both versions." in section


def test_from_one_sum_to_lines_every_line_is_added(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id, amount="250.00")
    edited = edit_through_page(author, proposal_id, amount="", change_note="Costs", **LINES_V2)
    assert edited.status_code == 302
    section = _costs(author.get(f"/proposals/{proposal_id}/diff").get_data(as_text=True))
    assert _cost_rows(section) == [
        ("Seeds", "Added", "none", "150.00 EUR"),
        ("Labels", "Added", "none", "4.50 EUR"),
        ("Watering can", "Added", "none", "20.00 EUR"),
    ]
    assert "250.00 EUR → 174.50 EUR." in section and "other line" not in section
