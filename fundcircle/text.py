"""Rules for text fields that are pure (no Flask, no database): what a single-line field may hold.

Titles, names, categories and payee names go into e-mail subjects, CSV cells, the ledger and one-line page
headings; a line break there crashes an e-mail header after the change was committed, and other control characters
(escape sequences, tabs, the Unicode line and paragraph separators) garble what readers see.
"""

from __future__ import annotations

import unicodedata

from fundcircle.phrases import N_

#: Marked for translation: where it is shown, say it with `gettext(SINGLE_LINE_MESSAGE)`.
SINGLE_LINE_MESSAGE = N_("Keep this to one line: line breaks, tabs and other control characters are not allowed.")

#: Unicode categories refused in a single-line field: controls (C0, DEL, C1; tab, CR and LF among them) and the
#: line and paragraph separators. Format characters (Cf) stay allowed: zero-width joiners are part of some
#: scripts and of emoji.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def is_single_line(text: str) -> bool:
    """Whether `text` holds no line break, tab or other control character."""
    return not any(unicodedata.category(character) in _REFUSED_CATEGORIES for character in text)


def one_line(text: str) -> str:
    """`text` with every control character and line break turned into a space: for text stored before the rule
    (an e-mail subject must be one line whatever the database holds)."""
    return "".join(" " if unicodedata.category(c) in _REFUSED_CATEGORIES else c for c in text)
