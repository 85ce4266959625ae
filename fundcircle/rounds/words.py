"""The rounds' words in the reader's language: the phases' names and how long a phase has left.

The names are marked in the pure lifecycle (fundcircle/rounds/phases.py), which cannot translate; they are
translated here, when a page, a message or a notice shows them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from flask_babel import gettext, ngettext

from fundcircle.rounds.phases import PHASE_LABELS, PHASE_WORDS


def phase_name(phase: str) -> str:
    """A phase's name ("Open for proposals"), in the reader's language."""
    return gettext(PHASE_LABELS[phase])


def phase_word(phase: str) -> str:
    """A phase as it reads inside a sentence ("the round is open for proposals"), in the reader's language."""
    return gettext(PHASE_WORDS[phase])


class _PhaseNames(Mapping[str, str]):
    """PHASE_LABELS translated at each look-up (under the language of the request that reads them)."""

    def __getitem__(self, phase: str) -> str:
        return phase_name(phase)

    def __iter__(self) -> Iterator[str]:
        return iter(PHASE_LABELS)

    def __len__(self) -> int:
        return len(PHASE_LABELS)


#: The phases' names for templates: `phase_labels[phase]`, in the reader's language.
PHASE_NAMES: Mapping[str, str] = _PhaseNames()


def time_left_text(deadline: datetime | None, now: datetime) -> str | None:
    """How long until `deadline`, in words ("3 days left", "deadline passed"); None without a deadline."""
    if deadline is None:
        return None
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return gettext("deadline passed")
    if seconds >= 86400:
        return ngettext("%(num)d day left", "%(num)d days left", seconds // 86400)
    if seconds >= 3600:
        return ngettext("%(num)d hour left", "%(num)d hours left", seconds // 3600)
    if seconds >= 60:
        return ngettext("%(num)d minute left", "%(num)d minutes left", seconds // 60)
    return gettext("less than a minute left")
