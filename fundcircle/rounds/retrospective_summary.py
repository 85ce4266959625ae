"""A round retrospective's answers summarised: how many, the mean and distribution of each rating, and the texts.
Pure: no Flask, no database; the service passes the answers in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

RATINGS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Answer:
    """One answer as the summary needs it: `name` is None when the answer is anonymous."""

    worked: str
    change: str
    fairness: int
    effort: int
    name: str | None


@dataclass(frozen=True)
class Rating:
    """One rating over the answers: `mean` as an exact fraction (None with no answers), `counts[n]` how many gave n."""

    mean: Fraction | None
    counts: dict[int, int]

    @property
    def mean_text(self) -> str:
        """The mean to one decimal ("3.7"), rounded half up; "–" with no answers."""
        if self.mean is None:
            return "–"
        tenths = (self.mean * 10 * 2 + 1) // 2  # half up, on exact fractions: no float rounding surprises
        return f"{tenths // 10}.{tenths % 10}"


@dataclass(frozen=True)
class Point:
    """A text from one answer, with who wrote it (None: anonymous)."""

    text: str
    name: str | None


@dataclass(frozen=True)
class Summary:
    count: int
    fairness: Rating
    effort: Rating
    worked: tuple[Point, ...]
    change: tuple[Point, ...]


def _rating(values: Sequence[int]) -> Rating:
    counts = {rating: 0 for rating in RATINGS}
    for value in values:
        if value not in counts:
            raise ValueError(f"a rating is 1 to 5, not {value!r}")
        counts[value] += 1
    mean = Fraction(sum(values), len(values)) if values else None
    return Rating(mean=mean, counts=counts)


def summarise(answers: Sequence[Answer]) -> Summary:
    """Count the answers, rate fairness and effort (mean and how many gave each of 1-5), and list the non-empty
    texts in the answers' order, each with its writer's name unless the answer is anonymous.

    :raises ValueError: for a rating outside 1-5.
    """
    return Summary(
        count=len(answers),
        fairness=_rating([answer.fairness for answer in answers]),
        effort=_rating([answer.effort for answer in answers]),
        worked=tuple(Point(a.worked.strip(), a.name) for a in answers if a.worked.strip()),
        change=tuple(Point(a.change.strip(), a.name) for a in answers if a.change.strip()),
    )
