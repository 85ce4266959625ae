"""What changed between two versions of a proposal, in words a person reads. Pure: no Flask, no database."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from fundcircle.money import format_minor
from fundcircle.phrases import N_


@dataclass(frozen=True)
class VersionContent:
    title: str
    summary: str
    body: str
    amount_minor: int
    currency: str
    category: str | None
    payee: str


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class LineChange:
    #: "same", "added" or "removed"
    kind: str
    text: str


#: The short fields' names as the diff page labels them (marked: the page translates them).
FIELD_LABELS = (
    ("title", N_("Title")),
    ("amount_minor", N_("Amount")),
    ("summary", N_("Summary")),
    ("category", N_("Category")),
    ("payee", N_("Paid to")),
)


def _shown(content: VersionContent, name: str, money: Callable[[int, str], str], none: str) -> str:
    if name == "amount_minor":
        return money(content.amount_minor, content.currency)
    return str(getattr(content, name) or none)


def field_changes(
    old: VersionContent, new: VersionContent, *, money: Callable[[int, str], str] = format_minor, none: str = "none"
) -> list[FieldChange]:
    """The short fields that differ, in a fixed order, money formatted in its currency by `money` (the reader's
    way, on a page), and `none` for a field left empty (in the reader's words)."""
    return [
        FieldChange(label, _shown(old, name, money, none), _shown(new, name, money, none))
        for name, label in FIELD_LABELS
        if getattr(old, name) != getattr(new, name)
    ]


def body_changes(old: str, new: str) -> list[LineChange]:
    """The body line by line: unchanged lines, and lines removed from `old` or added in `new`."""
    lines: list[LineChange] = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        marker, text = line[:2], line[2:]
        if marker == "  ":
            lines.append(LineChange("same", text))
        elif marker == "- ":
            lines.append(LineChange("removed", text))
        elif marker == "+ ":
            lines.append(LineChange("added", text))
    return lines


@dataclass(frozen=True)
class CostLine:
    """One line of a version's costs, as the diff compares them: what, and how much (minor units)."""

    description: str
    amount_minor: int


@dataclass(frozen=True)
class CostLineChange:
    #: "added", "removed", "amount changed" or "same"
    kind: str
    description: str
    #: The line's amount in the older version (None: the line was added).
    old_minor: int | None
    #: The line's amount in the newer version (None: the line was removed).
    new_minor: int | None


@dataclass(frozen=True)
class CostLinesDiff:
    """What changed in the cost lines between two versions, and the total asked before and after."""

    changes: list[CostLineChange]
    old_total_minor: int
    new_total_minor: int
    #: Whether either version lists cost lines at all (without them a version asks for one sum).
    has_lines: bool

    @property
    def changed(self) -> bool:
        return any(change.kind != "same" for change in self.changes)


def cost_lines_changes(
    old: list[CostLine], new: list[CostLine], *, old_total_minor: int, new_total_minor: int
) -> CostLinesDiff:
    """The lines of `new` in their order, each "same", "amount changed" (a line of `old` about the same thing with
    another amount) or "added"; then the lines of `old` that `new` no longer has, "removed". Lines are matched by
    what they pay for, word for word (a line reworded reads as one removed and one added, so the new words show),
    an old line of the same words and amount first, else the first one of the same words, so two lines with the
    same words are two lines. The totals are the amounts the versions ask for (the lines' total, or the one sum of
    a version without lines).

    Worked example: old [Seeds 120.00, Shelf 95.50], new [Seeds 150.00, Labels 4.50] gives Seeds amount changed
    120.00 → 150.00, Labels added 4.50, Shelf removed 95.50.
    """
    unmatched = list(enumerate(old))
    changes: list[CostLineChange] = []
    for line in new:
        # The same line unchanged first, so that lines of the same words with their amounts swapped stay the same.
        match = next((item for item in unmatched if item[1] == line), None) or next(
            (item for item in unmatched if item[1].description == line.description), None
        )
        if match is None:
            changes.append(CostLineChange("added", line.description, None, line.amount_minor))
            continue
        unmatched.remove(match)
        before = match[1].amount_minor
        kind = "same" if before == line.amount_minor else "amount changed"
        changes.append(CostLineChange(kind, line.description, before, line.amount_minor))
    changes.extend(CostLineChange("removed", line.description, line.amount_minor, None) for _, line in unmatched)
    return CostLinesDiff(changes, old_total_minor, new_total_minor, has_lines=bool(old or new))
