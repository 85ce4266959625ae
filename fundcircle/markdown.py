"""Markdown written by members, rendered to HTML that is safe to show. Pure: no Flask, no database.

markdown-it renders CommonMark with raw HTML switched off; nh3 (ammonia) then keeps only a short list of tags and
attributes and only http, https and mailto links, so no script, event handler, style, SVG, or javascript: or data:
URL can reach a page, whatever the Markdown parser lets through.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

from fundcircle.i18n import translated
from fundcircle.phrases import N_, PhrasedError

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_markdown.enable("strikethrough")


#: The most lines a Markdown text may have. The parser's work grows with lines far faster than with characters
#: (20 kB of one-character table rows takes about a second to render), and nobody writes a proposal or a comment
#: of more than a thousand lines: refusing them bounds the work of every write.
MAX_MARKDOWN_LINES = 1000


def too_many_lines_error(text: str) -> PhrasedError | None:
    """Why `text` is refused for its number of lines (to say in the reader's language with
    `fundcircle.i18n.translated`), or None if it is within MAX_MARKDOWN_LINES."""
    lines = text.count("\n") + 1
    if lines > MAX_MARKDOWN_LINES:
        # The numbers are grouped as English groups them: a pure rule knows no reader's locale.
        return PhrasedError(
            N_("Use at most %(most)s lines (this has %(lines)s)."), most=f"{MAX_MARKDOWN_LINES:,}", lines=f"{lines:,}"
        )
    return None


def too_many_lines(text: str) -> str | None:
    """Why `text` is refused for its number of lines, in the reader's language, or None if it is within
    MAX_MARKDOWN_LINES."""
    error = too_many_lines_error(text)
    return translated(error) if error is not None else None


def render_markdown(text: str) -> str:
    """Markdown source -> sanitised HTML."""
    return nh3.clean(
        _markdown.render(text),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow ugc",
    )
