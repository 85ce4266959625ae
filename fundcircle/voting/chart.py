"""A horizontal bar chart of scores as SVG, drawn on the server so that it needs no JavaScript.

Drawn at a phone's width (WIDTH user units, shown at most that many pixels wide and shrunk only to fit a narrower
screen): each proposal's name on its own line above its bar, so that the text stays at FONT_SIZE px, at least
12 px on a 360 px screen, instead of a wide drawing shrunk to 7 px."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Protocol

from flask_babel import gettext
from markupsafe import Markup

from fundcircle.i18n import money_text
from fundcircle.voting.models import ProposalResult

#: The drawing's width; a 360 px phone shows it at about 330 px (the page's margins), 0.97 of its size.
WIDTH = 340
FONT_SIZE = 14
#: One proposal: its name on one line, its bar and score on the next.
ROW = 50
BAR_HEIGHT = 18
#: The longest bar; the score and amount follow it on the same line.
BAR_WIDTH = 180
#: About how many characters of the font fit on a line of WIDTH.
LINE_CHARS = 40


class BudgetItem(Protocol):
    """What the budget line needs of a proposal: a stored result row, or just these columns of one."""

    @property
    def title(self) -> str: ...

    @property
    def amount_minor(self) -> int: ...

    @property
    def funded(self) -> bool: ...


def _shorten(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def score_chart(rows: Sequence[ProposalResult], currency: str) -> Markup:
    """Scores as bars, funded ones solid; the title and description give the same facts in words."""
    if not rows:
        return Markup("")
    top = max(max(abs(row.score) for row in rows), 1)
    height = ROW * len(rows) + 4
    summary = "; ".join(
        gettext("%(title)s: score %(score)s, funded", title=row.title, score=row.score)
        if row.funded
        else gettext("%(title)s: score %(score)s, not funded", title=row.title, score=row.score)
        for row in rows
    )
    chart_title = gettext("Scores of the proposals")
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-size="{FONT_SIZE}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(chart_title)}</title>',
        f'<desc id="chart-desc">{escape(summary)}</desc>',
    ]
    for index, row in enumerate(rows):
        y = index * ROW
        length = max(round(BAR_WIDTH * max(row.score, 0) / top), 0)
        css = "bar funded" if row.funded else "bar"
        label = _shorten(row.title, LINE_CHARS)
        parts.append(f'<text x="0" y="{y + 16}" class="label" font-size="{FONT_SIZE}">{escape(label)}</text>')
        parts.append(f'<rect x="0" y="{y + 22}" width="{length}" height="{BAR_HEIGHT}" class="{css}"/>')
        amount = money_text(row.amount_minor, currency)
        parts.append(
            f'<text x="{length + 6}" y="{y + 36}" class="value" font-size="{FONT_SIZE}">{row.score} · {amount}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # every interpolated text is escaped with html.escape


def budget_line(rows: Sequence[BudgetItem], budget_minor: int, currency: str) -> Markup:
    """The budget as one bar: a segment per funded proposal, then what is left. A segment names its proposal only
    where the name fits in it at FONT_SIZE; the label says all of it in words."""
    width, height = WIDTH, 30
    x = 0.0
    funded = [row for row in rows if row.funded]
    spent = sum(row.amount_minor for row in funded)
    summary = gettext(
        "Funded %(spent)s of %(budget)s: %(proposals)s; %(left)s left",
        spent=money_text(spent, currency),
        budget=money_text(budget_minor, currency),
        # A list of names with their amounts, as a list reads in any language.
        proposals=", ".join(f"{row.title} {money_text(row.amount_minor, currency)}" for row in funded),
        left=money_text(budget_minor - spent, currency),
    )
    parts = [
        f'<svg class="budget-line" role="img" aria-label="{escape(summary)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="{FONT_SIZE}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="0" y="0" width="{width}" height="{height}" class="left"/>',
    ]
    for row in funded:
        share = width * row.amount_minor / budget_minor if budget_minor else 0
        parts.append(f'<rect x="{x:.1f}" y="0" width="{share:.1f}" height="{height}" class="segment"/>')
        # About 8 units a character at 14 px.
        if len(row.title) * 8 < share - 8:
            parts.append(
                f'<text x="{x + 4:.1f}" y="20" class="segment-label" font-size="{FONT_SIZE}">{escape(row.title)}</text>'
            )
        x += share
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # every interpolated text is escaped with html.escape
