"""What changed between two versions of a proposal, in words a person reads. Pure: no Flask, no database."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from fundcircle.money import format_minor


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


FIELD_LABELS = (("title", "Title"), ("summary", "Summary"), ("category", "Category"), ("payee", "Paid to"))


def field_changes(old: VersionContent, new: VersionContent) -> list[FieldChange]:
    """The short fields that differ, money formatted in its currency."""
    changes = [
        FieldChange(label, str(getattr(old, name) or "none"), str(getattr(new, name) or "none"))
        for name, label in FIELD_LABELS
        if getattr(old, name) != getattr(new, name)
    ]
    if old.amount_minor != new.amount_minor:
        changes.insert(
            1,
            FieldChange(
                "Amount", format_minor(old.amount_minor, old.currency), format_minor(new.amount_minor, new.currency)
            ),
        )
    return changes


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
