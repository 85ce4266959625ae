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


FIELD_LABELS = (
    ("title", "Title"),
    ("amount_minor", "Amount"),
    ("summary", "Summary"),
    ("category", "Category"),
    ("payee", "Paid to"),
)


def _shown(content: VersionContent, name: str) -> str:
    if name == "amount_minor":
        return format_minor(content.amount_minor, content.currency)
    return str(getattr(content, name) or "none")


def field_changes(old: VersionContent, new: VersionContent) -> list[FieldChange]:
    """The short fields that differ, in a fixed order, money formatted in its currency."""
    return [
        FieldChange(label, _shown(old, name), _shown(new, name))
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
