"""Replays: what every allocation rule would fund with a given set of ballots, shown and never decided. Pure: no
Flask, no database, no clock.

A replay is read, not stored: it funds nothing, creates no payout and writes nothing to the ledger, so a circle can
try a rule on a past round (its stored ballots under every rule) or on a Pabulib file (pabulib.org/format) from
another place, as often as it likes. Quorum plays no part: a replay asks what the rule does with these ballots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from fundcircle.money import CURRENCY_EXPONENTS
from fundcircle.phrases import N_, PhrasedError
from fundcircle.voting import rules
from fundcircle.voting.pabulib_import import PabulibFile
from fundcircle.voting.quadratic import Candidate
from fundcircle.voting.rules import RuleResult

#: Pabulib vote types a replay can read, and the ballot type each becomes.
REPLAYED_VOTE_TYPES = {"approval": "approval", "choose-1": "approval", "cumulative": "cumulative"}


class ReplayError(PhrasedError):
    """A file a replay cannot take (says what and where)."""


@dataclass(frozen=True)
class ReplayProject:
    id: int
    title: str
    amount_minor: int


@dataclass(frozen=True)
class Replay:
    """What each allocation rule would fund, for `ballots` of `ballot_type` over `projects`."""

    title: str
    ballot_type: str
    currency: str
    budget_minor: int
    projects: tuple[ReplayProject, ...]
    ballots_cast: int
    #: By allocation rule, in the order of rules.ALLOCATION_RULES.
    results: Mapping[str, RuleResult]

    def title_of(self, project_id: int) -> str:
        return next((p.title for p in self.projects if p.id == project_id), f"Project {project_id}")

    def amount_of(self, project_id: int) -> int:
        return next((p.amount_minor for p in self.projects if p.id == project_id), 0)


def replay(
    title: str,
    ballot_type: str,
    projects: Sequence[ReplayProject],
    ballots: Sequence[Mapping[int, int]],
    *,
    budget_minor: int,
    currency: str,
) -> Replay:
    """Run every allocation rule over the ballots (projects in the order given are the submission order, for the
    tie-breaks).

    :raises ValueError: for a ballot type that does not exist.
    """
    candidates = [Candidate(p.id, p.amount_minor, order) for order, p in enumerate(projects)]
    results = {
        rule: rules.decide(
            ballot_type,
            rule,
            ballots,
            candidates,
            budget_minor=budget_minor,
            currency=currency,
            eligible_voters=len(ballots),
            quorum_percent=0,
        )
        for rule in rules.ALLOCATION_RULES
    }
    return Replay(title, ballot_type, currency, budget_minor, tuple(projects), len(ballots), results)


def replay_of_file(pb: PabulibFile, *, default_currency: str) -> Replay:
    """A Pabulib file's projects and ballots under every allocation rule. Amounts are read in the file's
    `currency` (META) when the app knows it, otherwise in `default_currency`, as major units.

    :raises ReplayError: for a vote type Fund Circle has no rule for (ordinal, scoring), an amount that is not a
        whole number of minor units or not above 0, or points that are not whole numbers (naming the project or
        ballot).
    """
    ballot_type = REPLAYED_VOTE_TYPES.get(pb.vote_type)
    if ballot_type is None:
        raise ReplayError(
            N_(
                "The file's vote_type is %(vote_type)s; a replay reads approval, choose-1 and cumulative ballots, as "
                "Fund Circle has rules for those."
            ),
            vote_type=pb.vote_type,
        )
    currency = pb.meta.get("currency", "").strip().upper()
    if currency not in CURRENCY_EXPONENTS:
        currency = default_currency
    scale = 10 ** CURRENCY_EXPONENTS[currency]

    def minor(amount: Fraction, project_id: str | None = None) -> int:
        """`amount` (the budget, or the cost of `project_id`) in minor units."""
        value = amount * scale
        if value.denominator != 1 or value <= 0:
            if project_id is None:
                raise ReplayError(
                    N_("The budget is %(amount)s, which is not a positive whole number of %(currency)s minor units."),
                    amount=str(amount),
                    currency=currency,
                )
            raise ReplayError(
                N_(
                    "The cost of project %(project)s is %(amount)s, which is not a positive whole number of "
                    "%(currency)s minor units."
                ),
                project=project_id,
                amount=str(amount),
                currency=currency,
            )
        return int(value)

    budget_minor = minor(pb.budget)
    ids: dict[str, int] = {}
    projects = []
    for number, project in enumerate(pb.projects, start=1):
        ids[project.project_id] = number
        name = (project.name or "").strip() or f"Project {project.project_id}"
        projects.append(ReplayProject(number, name[:120], minor(project.cost, project.project_id)))
    ballots: list[dict[int, int]] = []
    for vote in pb.votes:
        ballot: dict[int, int] = {}
        for project_id, points in vote.points_by_project().items():
            if points.denominator != 1 or points < 0:
                raise ReplayError(
                    N_(
                        "Voter %(voter)s gives project %(project)s %(points)s points; a replay reads whole points, "
                        "none negative."
                    ),
                    voter=vote.voter_id,
                    project=project_id,
                    points=str(points),
                )
            if project_id in ids and points:
                ballot[ids[project_id]] = int(points)
        ballots.append(ballot)
    title = pb.meta.get("description", "").strip() or pb.meta.get("instance", "").strip() or "A Pabulib file"
    return replay(title[:200], ballot_type, projects, ballots, budget_minor=budget_minor, currency=currency)
