"""Every page of a circle and its rounds, in each language Fund Circle speaks: `lang` is set, and no English
sentence of the catalogue is left on the page.

A page "has an untranslated string" when it shows a piece of an English message (the longest run of words between
its placeholders and tags) that the language's catalogue translates into something else. The world's own content
(names, titles, comments) is English, so only pieces of at least two words and a dozen letters count.
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.extensions import db
from fundcircle.i18n import DEFAULT_LANGUAGE, LANGUAGES
from fundcircle.notices import OutboxNotice
from fundcircle.outbox import notice_readings, render_notice
from tests.catalogues import translations_tool
from tests.conftest import Client
from tests.worlds.circles import CircleWorld, all_routes, build_circle, url_for_rule

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]
#: Pages that are not about a circle's work: machine-readable or framework routes.
NOT_PAGES = ("/api/", "/static/", "/hooks/", "/metrics", "/healthz", "/readyz", "/_bench", "/unsubscribe/")
#: Routes that answer files, not pages.
FILE_ENDPOINTS = {"attachments.download", "ledger.export", "voting.export_pabulib"}
ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}
SEPARATOR = re.compile(r"%\(\w+\)[sdrif]|%[sd]|<[^>]*>")


_tool = translations_tool


def _normal(text: str) -> str:
    return " ".join(text.split())


@cache
def _english_pieces(language: str) -> tuple[tuple[str, str], ...]:
    """(piece, its English message) for every message whose translation into `language` reads differently."""
    tool = _tool()
    catalog = tool.read(tool.po_path(language), language)
    pieces = []
    for message in tool.read(tool.TEMPLATE, DEFAULT_LANGUAGE):
        if not message.id:
            continue
        ids = list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]
        found = catalog.get(message.id, message.context)
        strings = found.string if found is not None else ""
        translated = " ".join(strings) if isinstance(strings, (list, tuple)) else (strings or "")
        for english in ids:
            chunks = [_normal(chunk) for chunk in SEPARATOR.split(english)]
            piece = max(chunks, key=len)
            if len(piece.split()) >= 2 and sum(c.isalpha() for c in piece) >= 12 and piece not in _normal(translated):
                pieces.append((piece, english))
    return tuple(pieces)


class _Text(HTMLParser):
    """The words a reader sees or hears: text outside scripts and styles, and the labelling attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.lang: str | None = None
        self.direction: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang, self.direction = values.get("lang"), values.get("dir")
        if tag in ("script", "style"):
            self._skip += 1
        self.parts += [value for name, value in attrs if name in ATTRIBUTES and value]
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data)


def untranslated(html: str, language: str) -> list[str]:
    reader = _Text()
    reader.feed(html)
    text = _normal(" \n ".join(reader.parts))
    return sorted({english for piece, english in _english_pieces(language) if piece in text})


def _pages(world: CircleWorld, actor: str) -> list[str]:
    urls = []
    for endpoint, rule, method in all_routes():
        if method != "GET" or rule.startswith(NOT_PAGES) or endpoint in FILE_ENDPOINTS:
            continue
        try:
            urls.append(url_for_rule(rule, world.ids(actor)))
        except AssertionError:
            continue  # a route whose sample values this world does not have
    return sorted(set(urls))


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_page_of_a_circle_and_its_rounds_reads_in_the_language(app: Flask, language: str) -> None:
    """A circle whose default language is `language` (so that its notices are written in it too), read by its
    people and by a visitor whose browser asks for that language."""
    with app.app_context():
        world = build_circle("A", language)
    wrong: list[str] = []
    shown = 0
    for actor in ("visitor", "admin", "member", "treasurer"):
        client: Client = app.test_client()  # type: ignore[assignment]
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = f"{language},en;q=0.5"
        if actor != "visitor":
            client.login(world.emails[actor])
        for url in _pages(world, actor):
            response = client.get(url)
            body = response.get_data()  # read to its end: a streamed export holds its request open
            response.close()
            if response.status_code >= 500:
                wrong.append(f"{actor} {url}: answered {response.status_code}")
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            shown += 1
            html = body.decode()
            if f'<html lang="{language}" dir="ltr"' not in html:
                wrong.append(f"{actor} {url}: <html> does not say lang={language}")
            wrong += [f"{actor} {url}: {english!r}" for english in untranslated(html, language)]
    assert shown > 60, f"only {shown} pages were shown: the world is not what this test expects"
    assert wrong == [], f"{len(wrong)} untranslated:\n" + "\n".join(wrong[:80])


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_check_finds_english_left_on_a_page(language: str) -> None:
    """The check itself: a page that shows an English message is caught, one in the language is not."""
    tool = _tool()
    catalog = tool.read(tool.po_path(language), language)
    piece, english = _english_pieces(language)[0]
    translation = catalog.get(english)
    assert translation is not None and translation.string
    page = '<html lang="{0}"><body><main><p>{1}</p></main></body></html>'
    assert untranslated(page.format(language, english), language) == [english]
    assert english not in untranslated(page.format(language, translation.string), language)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_mail_the_circle_sends_reads_in_the_language(app: Flask, language: str) -> None:
    """The notices the world's changes queued (invitations, phase changes, comments, payouts, consent), as their
    recipients get them: subject, text and HTML, with `lang` on the HTML part."""
    with app.app_context():
        build_circle("A", language)
        db.session.commit()
        ids = list(db.session.scalars(select(OutboxNotice.id).order_by(OutboxNotice.id)))
        kinds, wrong = set(), []
        for notice_id in ids:
            # One at a time, as delivery does: rendering ends the read transaction (no transaction is held while
            # the mail server answers), which lets go of the notice.
            notice = db.session.get_one(OutboxNotice, notice_id)
            kind, subject = notice.kind, notice.subject
            kinds.add(kind)
            text, html, _ = render_notice(notice, notice_readings([notice])[notice_id])
            if f'lang="{language}"' not in html:
                wrong.append(f"{kind}: the HTML part does not say lang={language}")
            for part in (subject, text, html):
                wrong += [f"{kind}: {english!r}" for english in untranslated(f"<p>{part}</p>", language)]
    assert len(ids) >= 10, f"only {len(ids)} notices: the world is not what this test expects"
    assert kinds >= {"round.phase_changed", "consent.opened", "payout.awaiting_approval", "join.requested"}, kinds
    assert wrong == [], f"{len(wrong)} untranslated:\n" + "\n".join(sorted(set(wrong))[:80])
