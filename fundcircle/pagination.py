"""Rules for splitting a long list into numbered pages, pure (no Flask, no database): which page a request gets,
and which items it shows.

A page number comes from a query string, so anything can arrive: text, a zero, a number past the end (a link
kept from before the list shrank, or typed by hand). None of these is worth an error page: text and numbers
below 1 are refused with a message and the first page is shown; a number past the end shows the last page.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundcircle.phrases import N_, PhrasedError

#: More digits than any list here has pages; longer text is refused before `int` has to read it.
MAX_PAGE_DIGITS = 6


def page_number(text: str) -> int | None:
    """The page number that `text` (a query-string value) asks for, or None when it is not a whole number from 1
    (ASCII digits only: `int` would also read "٣", " 3" and "3_0")."""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_PAGE_DIGITS:
        return None
    number = int(text)
    return number if number >= 1 else None


@dataclass(frozen=True)
class PageWindow:
    """Page `page` of `pages` over `total` items, `per_page` a page; `past_end` says the page asked for was after
    the last one (so this is the last page instead). Items are counted from 1, as readers count them."""

    page: int
    pages: int
    per_page: int
    total: int
    past_end: bool = False

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.page - 1) * self.per_page

    @property
    def first(self) -> int:
        """The number of this page's first item (0 for an empty list)."""
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        """The number of this page's last item (0 for an empty list)."""
        return min(self.offset + self.per_page, self.total)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_window(total: int, per_page: int, asked: int) -> PageWindow:
    """The page `asked` for over `total` items, `per_page` a page; one past the last page gives the last page
    (an empty list has one, empty, page).

    :raises ValueError: for `per_page` below 1, `asked` below 1 or `total` below 0.
    """
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, not {per_page}")
    if asked < 1:
        raise ValueError(f"pages are numbered from 1, not {asked}")
    if total < 0:
        raise ValueError(f"total cannot be negative: {total}")
    pages = max((total + per_page - 1) // per_page, 1)
    return PageWindow(page=min(asked, pages), pages=pages, per_page=per_page, total=total, past_end=asked > pages)


def page_phrase(asked_text: str, window: PageWindow) -> PhrasedError | None:
    """What to tell a reader whose `?page=` was not a page of the list (None when it was), to say in their language
    (`fundcircle.i18n.translated`): text or a number below 1 shows the first page, a number past the end the last."""
    asked = page_number(asked_text)
    if asked is None:
        return PhrasedError(
            N_("“%(asked)s” is not a page number: pages are numbered from 1. This is the first page."),
            asked=asked_text[:20],
        )
    if window.past_end:
        if window.pages == 1:
            return PhrasedError(N_("There is no page %(asked)d: the table has 1 page. This is the last."), asked=asked)
        return PhrasedError(
            N_("There is no page %(asked)d: the table has %(pages)d pages. This is the last."),
            asked=asked,
            pages=window.pages,
        )
    return None


def page_message(asked_text: str, window: PageWindow) -> str | None:
    """`page_phrase` in English (None when the page asked for was one of the list)."""
    phrase = page_phrase(asked_text, window)
    return str(phrase) if phrase is not None else None
