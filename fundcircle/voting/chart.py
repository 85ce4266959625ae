"""A horizontal bar chart of scores as SVG, drawn on the server so that it needs no JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from fundcircle.money import format_minor
from fundcircle.voting.models import ProposalResult

ROW = 34
LABEL_WIDTH = 260
BAR_WIDTH = 260


def score_chart(rows: Sequence[ProposalResult], currency: str) -> Markup:
    """Scores as bars, funded ones solid; the title and description give the same facts in words."""
    if not rows:
        return Markup("")
    top = max(max(abs(row.score) for row in rows), 1)
    height = ROW * len(rows) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 150
    summary = "; ".join(f"{row.title}: score {row.score}, {'funded' if row.funded else 'not funded'}" for row in rows)
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Scores of the proposals</title>',
        f'<desc id="chart-desc">{escape(summary)}</desc>',
    ]
    for index, row in enumerate(rows):
        y = index * ROW + 5
        length = round(BAR_WIDTH * max(row.score, 0) / top)
        title = row.title if len(row.title) <= 34 else row.title[:33] + "…"
        css = "bar funded" if row.funded else "bar"
        parts.append(f'<text x="0" y="{y + 20}" class="label">{escape(title)}</text>')
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length}" height="{ROW - 12}" class="{css}"/>')
        amount = format_minor(row.amount_minor, currency)
        parts.append(f'<text x="{LABEL_WIDTH + length + 6}" y="{y + 20}" class="value">{row.score} · {amount}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # every interpolated text is escaped with html.escape


def budget_line(rows: Sequence[ProposalResult], budget_minor: int, currency: str) -> Markup:
    """The budget as one bar: a segment per funded proposal, then what is left."""
    width, height = 600, 36
    x = 0.0
    funded = [row for row in rows if row.funded]
    spent = sum(row.amount_minor for row in funded)
    summary = (
        f"Funded {format_minor(spent, currency)} of {format_minor(budget_minor, currency)}: "
        + ", ".join(f"{row.title} {format_minor(row.amount_minor, currency)}" for row in funded)
        + f"; {format_minor(budget_minor - spent, currency)} left"
    )
    parts = [
        f'<svg class="budget-line" role="img" aria-label="{escape(summary)}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="0" y="0" width="{width}" height="{height}" class="left"/>',
    ]
    for row in funded:
        share = width * row.amount_minor / budget_minor
        parts.append(f'<rect x="{x:.1f}" y="0" width="{share:.1f}" height="{height}" class="segment"/>')
        label = row.title if len(row.title) * 7 < share - 8 else ""
        if label:
            parts.append(f'<text x="{x + 4:.1f}" y="23" class="segment-label">{escape(label)}</text>')
        x += share
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # every interpolated text is escaped with html.escape
