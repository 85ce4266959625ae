"""The reader's language: which one a request speaks, and the words of pure rules in it (Flask-Babel).

A request's language is the signed-in person's own choice (or a visitor's, kept in their session), then the
default language of the circle the page is about, then the browser's Accept-Language, then English. E-mails and
notices are written in their recipient's language (`in_language`), whoever caused them.

The catalogues are fundcircle/translations/<language>/LC_MESSAGES/messages.po, made and checked with
scripts/translations.py; tests/rules/test_translations.py fails when a catalogue lacks a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time
from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, force_locale, get_locale, gettext, ngettext, pgettext, refresh
from flask_babel.speaklater import LazyString
from markupsafe import escape

from fundcircle.money import format_minor, format_money
from fundcircle.phrases import N_, PhrasedError
from fundcircle.timezones import DEFAULT_TIME_ZONE, format_in_zone, to_local

#: The languages Fund Circle speaks, by code, each named in itself (as the switcher shows them).
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"
#: What `pybabel extract` and the catalogue test look for besides gettext's own names.
EXTRACT_KEYWORDS = ("lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2", "N_")
#: The session key of a visitor's chosen language (a signed-in person's is on their account).
SESSION_KEY = "language"

babel = Babel()


class LazyText(LazyString):
    """A translation made when it is shown, which Jinja and WTForms escape like any other text. Flask-Babel's own
    LazyString calls itself markup (`__html__` returns it as it is), so an apostrophe in a label, or a person's name
    put into a lazy message, would reach the page unescaped. Every lazy translation of the product is one of these
    (tests/project/test_layout.py checks that none comes from flask_babel directly)."""

    def __html__(self) -> str:
        return str(escape(str(self)))


def lazy_gettext(string: str, **variables: Any) -> LazyText:
    return LazyText(gettext, string, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables: Any) -> LazyText:
    return LazyText(ngettext, singular, plural, num, **variables)


def lazy_pgettext(context: str, string: str, **variables: Any) -> LazyText:
    return LazyText(pgettext, context, string, **variables)


def check_language(code: str) -> str:
    """Return `code` if Fund Circle speaks it.

    :raises PhrasedError: naming the languages there are.
    """
    if code not in LANGUAGES:
        raise PhrasedError(
            N_("%(code)s is not a language Fund Circle speaks: choose one of %(languages)s."),
            code=code,
            languages=", ".join(LANGUAGES),
        )
    return code


def select_language() -> str:
    """The language of the current request (Flask-Babel's locale selector; see the module's docstring)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    # Imported here: the auth area imports this module's helpers.
    from flask_login import current_user

    if request.headers.get("Authorization") and "_login_user" not in g:
        # A bearer token speaks for this request and is not read yet (a route that authenticates itself reads its
        # body first): asking for `current_user` now would settle the request as anonymous before the token is.
        own = None
    else:
        own = getattr(current_user, "language", None) if current_user.is_authenticated else None
    for choice in (own, session.get(SESSION_KEY)):  # the account's choice, else this session's (a visitor's)
        if choice in LANGUAGES:
            return str(choice)
    circle = g.get("circle")
    circle_language = getattr(circle, "language", None)
    if circle_language in LANGUAGES:
        return str(circle_language)
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    locale = get_locale()
    return str(locale) if locale is not None else DEFAULT_LANGUAGE


def text_direction(language: str) -> str:
    """ "ltr" or "rtl", from CLDR (for `dir` on <html>)."""
    return "rtl" if Locale.parse(language).text_direction == "rtl" else "ltr"


def language_known() -> None:
    """Forget the request's language once the circle it is about is known (fundcircle/access.py), so that the
    circle's default counts even where something was translated before the circle was looked up."""
    refresh()


#: Inside `in_language`: the recipient's own display zone (None: each circle's own), not the request's person's.
_recipient_zone: ContextVar[tuple[str | None] | None] = ContextVar("recipient_zone", default=None)


@contextmanager
def in_language(language: str | None, time_zone: str | None = None) -> Iterator[None]:
    """Write in `language` (a recipient's) within the block, with times in the recipient's own `time_zone` (None:
    each circle's own), whoever's request this is."""
    token = _recipient_zone.set((time_zone,))
    try:
        with force_locale(language if language in LANGUAGES else DEFAULT_LANGUAGE):
            yield
    finally:
        _recipient_zone.reset(token)


def translated(error: PhrasedError) -> str:
    """A pure rule's message in the reader's language."""
    return gettext(error.message_id, **error.params)


def money_text(amount_minor: int, currency: str) -> str:
    """An amount as the reader writes money: "1,234.56 EUR" in English (as the pages always said), "1.234,56 €" in
    German, "1234,56 €" in Spanish (CLDR's patterns, fundcircle/money.py)."""
    language = current_language()
    if language == DEFAULT_LANGUAGE:
        return format_minor(amount_minor, currency)
    return format_money(amount_minor, currency, language)


def money_input(amount_minor: int | None, currency: str) -> str:
    """An amount as a form field shows it, in the reader's own way of typing it (what `parse_money` reads back)."""
    return "" if amount_minor is None else format_money(amount_minor, currency, current_language(), with_currency=False)


def reading_zone(circle_zone: str | None) -> str:
    """The zone a time is shown in: the reader's own, if they chose one, else the circle's (else UTC)."""
    from flask_login import current_user

    recipient = _recipient_zone.get()
    if recipient is not None:
        return recipient[0] or circle_zone or DEFAULT_TIME_ZONE
    if has_request_context() and current_user.is_authenticated and getattr(current_user, "time_zone", None):
        return str(current_user.time_zone)
    return circle_zone or DEFAULT_TIME_ZONE


def moment_text(value: datetime, circle_zone: str | None = None) -> str:
    """A stored instant for the reader, with its zone named: "2 Nov 2027, 18:00 (Europe/Berlin)" in English (the
    pages' format since time zones came), "2. Nov. 2027, 18:00 (Europe/Berlin)" in German."""
    zone = reading_zone(circle_zone)
    language = current_language()
    if language == DEFAULT_LANGUAGE:
        return format_in_zone(value, zone)
    local = to_local(value, zone)
    # CLDR's medium date and a 24-hour time: "02.11.2027, 18:00" in German, "2 nov 2027, 18:00" in Spanish.
    text = f"{format_date(local, 'medium', locale=language)}, {format_time(local, 'HH:mm', locale=language)}"
    return f"{text} UTC" if zone == DEFAULT_TIME_ZONE else f"{text} ({zone})"


def stored_words(text: str) -> str:
    """Text stored as it was written that may be one of the product's own words, such as a round's default report
    questions stored in English before it was made in another language: the reader's translation where the catalogue
    has one, else the text as written (a circle's own questions stay theirs)."""
    return gettext(text) if text else text


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_language)
    # Whitespace inside {% trans %} blocks is the template's layout, not the message's.
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    @app.context_processor
    def language_globals() -> dict[str, Any]:
        language = current_language()
        return {"page_language": language, "page_direction": text_direction(language), "LANGUAGES": LANGUAGES}

    app.jinja_env.filters["money"] = _money_filter
    app.jinja_env.filters["stored_words"] = stored_words

    def datetime_filter(value: Any, zone: str | None = None) -> str:
        # A round's deadlines pass their circle's zone ("18:00 (Europe/Berlin)"); other times are in UTC, or in
        # the reader's own zone where they chose one.
        return moment_text(value, zone) if value is not None else ""

    app.jinja_env.filters["datetime"] = datetime_filter


def _money_filter(amount_minor: int, currency: str, *, with_code: bool = True) -> str:
    if with_code:
        return money_text(amount_minor, currency)
    return (
        format_minor(amount_minor, currency, with_code=False)
        if current_language() == DEFAULT_LANGUAGE
        else (format_money(amount_minor, currency, current_language(), with_currency=False))
    )
