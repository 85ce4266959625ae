"""A decided voting round (quadratic, approval or cumulative ballots) as a Pabulib `.pb` file. Pure: no Flask,
no database, no clock.

Pabulib (pabulib.org/format) is the participatory budgeting library's format, read by `pabutools` and other
researchers' tools: three sections, each a title line (`META`, `PROJECTS`, `VOTES`), a header line, then rows, with
cells separated by semicolons and quoted as in CSV. What this module writes, and why:

- META: the keys the format requires (`description`, `country`, `unit`, `instance`, `num_projects`, `num_votes`,
  `budget`, `vote_type`, `rule`, `date_begin`, `date_end` as DD.MM.YYYY), the limits a ballot had (see VOTES),
  `currency`, and a `comment` in the format's `#1: ...` style that says what the file cannot: the quadratic cost of
  points, the rule's tie-breaks and quorum, the ballots that gave no points, and whether the ballot was secret.
- The rule: only proposals scoring above 0 are funded, which the spec calls `greedy-threshold`, with
  `min_project_score_threshold` 1 (scores are whole numbers, so "at least 1" is "above 0"). When the quorum was
  not met nothing was funded whatever the scores; no rule of the spec's says that, so such a round is labelled
  `greedy-custom`, the spec's word for greedy with a rule of its own, and the comment states the rule.
- PROJECTS: `project_id;cost;votes;score;name;selected`, in the order the budget was walked (so equal scores stand
  in the order the tie-breaks put them). `votes` is how many ballots gave the project points, for or against,
  `score` the sum of its points (the published score), `selected` 1 if funded.
- VOTES: each ballot lists the projects it gave points (`vote`) and how many (`points`), by decreasing points
  (equal points by project id), as the spec asks, so summing points per project gives back each score, and walking
  the budget gives back the outcome. A round whose ballots could not vote against is `cumulative`, with
  `max_points` and `max_sum_points`. A round that allowed votes against is `scoring`, the spec's vote type whose
  points may be negative, with `min_points` and `max_points` (minus and plus the most votes a ballot can give one
  project) and `default_score` 0 (a project a ballot leaves out gets 0 from it).
- A ballot that gave no points (to the projects tallied) is left out of VOTES: the spec's `vote` lists at least one
  project (the checker refuses an empty one, and `None`, pabutools' spelling, is not the spec's), and leaving it
  out changes no score. It still counted towards the quorum, so the comment says how many ballots were cast and how
  many of them are not listed; `num_votes` is the number of ballots listed, as the spec defines it.

Money is written exactly, in the currency's major units as a decimal (40000 minor EUR is `400`, 40050 is `400.50`),
never through a float. The format's own examples have costs and budgets in major units, and pabutools reads these
cells with `gmpy2.mpq` (an exact rational), which takes `400` and `400.50` alike; whole amounts are written without
decimals because Pabulib's checker reads costs as integers. That checker also rounds every cost down to a whole
unit (refusing a project under one unit as costing nothing) and walks the budget in floating point (1000.30 less
400.10 leaves it less than 600.20), so a round where any amount is not a whole number of major units is written in
minor units throughout (costs and budget alike, so every ratio stays the same), and the comment says so.
When the budget covers every proposal, `fully_funded` is 1, as the spec asks of such a round.

Text cells become one line: pabutools splits the file into lines before it reads the CSV, so a line break inside a
quoted cell would end the row. Every run of whitespace and control characters becomes one space. A cell that reads
`none` in any case is how pabutools spells a missing value, so a proposal titled "None" is read without a name.
Files like this are opened in spreadsheets, so a text cell that a spreadsheet would run as a formula (starting with
=, +, -, @, a tab or a carriage return) is escaped as every CSV of the app's is (`fundcircle.spreadsheets`).
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from fundcircle.money import CURRENCY_EXPONENTS
from fundcircle.phrases import N_, PhrasedError
from fundcircle.spreadsheets import spreadsheet_safe

#: The label prefix of a voter in a secret ballot's export: "anon-1", "anon-2", ...
ANONYMOUS_PREFIX = "anon-"


class PabulibError(PhrasedError):
    """A round that cannot be written as a faithful Pabulib file; the message says why in words (a person reads it:
    the file's own words, META's description and comment, stay English as the format's readers expect)."""


@dataclass(frozen=True)
class PabulibProject:
    """A proposal as its result was published: `score` is the sum of its votes, `selected` whether it was funded."""

    id: int
    title: str
    cost_minor: int
    score: int
    selected: bool


@dataclass(frozen=True)
class PabulibRound:
    """Everything a decided voting round's export holds, as plain data.

    `projects` come in the order the budget was walked (the published ranks). `ballots` are (voter label, votes by
    proposal id); for an open ballot the label is the voter's user id, for a secret one it is ignored (see
    `pabulib_text`).
    """

    description: str
    country: str
    unit: str
    instance: str
    currency: str
    budget_minor: int
    #: When voting opened (the round moved to deciding) and when the result was decided.
    date_begin: date
    date_end: date
    credits: int
    allow_negative: bool
    secret_ballot: bool
    quorum_percent: int
    eligible_voters: int
    quorum_met: bool
    projects: tuple[PabulibProject, ...]
    ballots: tuple[tuple[str, Mapping[int, int]], ...]
    #: The ballot type ("quadratic", "approval", "cumulative") and the allocation rule ("greedy", "equal_shares").
    ballot_type: str = "quadratic"
    allocation_rule: str = "greedy"
    #: An approval round's most approvals per ballot (None: any number).
    max_approvals: int | None = None
    #: Whether equal shares' greedy completion funded any project (then no rule of the spec's describes it).
    completed: bool = False


def major_units(amount_minor: int, currency: str) -> str:
    """An amount in the currency's major units, exactly: 40000 EUR is "400", 40050 is "400.50", 400 JPY is "400".

    :raises PabulibError: for a currency the app does not know, or a negative amount.
    """
    if currency not in CURRENCY_EXPONENTS:
        raise PabulibError(
            N_("%(currency)s is not a currency Fund Circle knows the minor unit of."), currency=repr(currency)
        )
    if amount_minor < 0:
        raise PabulibError(N_("An amount cannot be negative (%(amount)s minor units)."), amount=amount_minor)
    exponent = CURRENCY_EXPONENTS[currency]
    units, fraction = divmod(amount_minor, 10**exponent)
    return str(units) if fraction == 0 else f"{units}.{fraction:0{exponent}d}"


def max_total_votes(credits: int, projects: int) -> int:
    """The most votes one ballot can give in all, over `projects` proposals, when it costs the sum of their squares
    and may cost at most `credits`: spreading the votes as evenly as possible is cheapest, so this is the largest S
    whose even spread fits (4 proposals and 100 credits: 20, as 5 + 5 + 5 + 5)."""
    if projects <= 0 or credits <= 0:
        return 0
    total = math.isqrt(credits * projects)  # Cauchy-Schwarz: S * S <= projects * credits, so never above this
    while _cheapest_cost(total, projects) > credits:
        total -= 1
    return total


def _cheapest_cost(total: int, projects: int) -> int:
    each, more = divmod(total, projects)
    return more * (each + 1) ** 2 + (projects - more) * each**2


def anonymous_ballots(ballots: list[Mapping[int, int]]) -> list[tuple[str, dict[int, int]]]:
    """Label ballots "anon-1", "anon-2", ... in the order of their contents (by proposal id, then votes), which
    says nothing about who cast them or when: the same ballots, in any order, get the same labels."""
    ordered = sorted(tuple(sorted(votes.items())) for votes in ballots)
    return [(f"{ANONYMOUS_PREFIX}{number}", dict(items)) for number, items in enumerate(ordered, start=1)]


def pabulib_text(round_: PabulibRound) -> str:
    """Write the round as a Pabulib file that the official pabulib-checker accepts and that gives back its
    projects, costs, budget, ballots and, summed and walked, its outcome.

    Votes against are written as the negative points of a `scoring` ballot (see the module's docstring). Votes for
    proposals that are not among the projects (withdrawn before the tally) are left out, as the tally left them
    out; a ballot left with no votes is not listed (the comment counts it). For a secret ballot the labels given
    are ignored and the voters are numbered "anon-1", "anon-2", ... in the order of their ballots' contents
    (`anonymous_ballots`), so the file says nothing of who voted or in what order; for an open ballot the labels
    given (user ids) are written as voter ids, in the order given.

    :raises PabulibError: if a ballot votes against a project in a round that did not allow it, if the ballots do
        not add up to the published scores, if two projects share an id or two open-ballot voters a label, or for
        an unknown currency or a negative amount.
    """
    ids = [project.id for project in round_.projects]
    if len(set(ids)) != len(ids):
        raise PabulibError(N_("Two projects have the same id."))
    counted = [(label, _counted_votes(votes, set(ids), round_.allow_negative)) for label, votes in round_.ballots]
    if round_.secret_ballot:
        counted = anonymous_ballots([votes for _, votes in counted if votes])
    else:
        counted = [(_one_line(label), votes) for label, votes in counted]
        labels = [label for label, _ in counted]
        if "" in labels or len(set(labels)) != len(labels):
            raise PabulibError(N_("Every voter needs a label of their own."))
    _check_against_published_scores(round_.projects, [votes for _, votes in counted])
    listed = [(label, votes) for label, votes in counted if votes]

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    in_minor = _in_minor_units(round_)
    writer.writerow(["META"])
    writer.writerow(["key", "value"])
    for key, value in _meta(round_, len(listed), in_minor).items():
        writer.writerow([key, value])
    writer.writerow(["PROJECTS"])
    # An approval ballot's score is its number of approvals, which `votes` already says: no `score` column (the
    # checker counts a score for approval ballots otherwise than the spec's sum of points).
    approval = round_.ballot_type == "approval"
    writer.writerow(["project_id", "cost", "votes", *(() if approval else ("score",)), "name", "selected"])
    for project in round_.projects:
        voters = sum(1 for _, votes in listed if project.id in votes)
        writer.writerow([
            project.id, _money(project.cost_minor, round_.currency, in_minor), voters,
            *(() if approval else (project.score,)), _text_cell(project.title), 1 if project.selected else 0,
        ])  # fmt: skip
    writer.writerow(["VOTES"])
    writer.writerow(["voter_id", "vote"] if approval else ["voter_id", "vote", "points"])
    for label, votes in listed:
        ordered = sorted(votes.items(), key=lambda item: (-item[1], item[0]))  # the spec: by decreasing points
        row = [label, ",".join(str(pid) for pid, _ in ordered)]
        writer.writerow(row if approval else [*row, ",".join(str(n) for _, n in ordered)])
    return buffer.getvalue()


def _counted_votes(votes: Mapping[int, int], project_ids: set[int], allow_negative: bool) -> dict[int, int]:
    counted = {}
    for proposal_id, count in votes.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise PabulibError(
                N_("Votes are whole numbers; %(count)s for proposal %(proposal)s is not."),
                count=repr(count),
                proposal=proposal_id,
            )
        if proposal_id not in project_ids or count == 0:
            continue
        if count < 0 and not allow_negative:
            raise PabulibError(
                N_(
                    "A ballot votes against proposal %(proposal)s, but the round did not allow votes against: the "
                    "stored ballots no longer match the round, so they are not exported."
                ),
                proposal=proposal_id,
            )
        counted[proposal_id] = count
    return counted


def _check_against_published_scores(projects: tuple[PabulibProject, ...], ballots: list[dict[int, int]]) -> None:
    for project in projects:
        summed = sum(votes.get(project.id, 0) for votes in ballots)
        if summed != project.score:
            raise PabulibError(
                N_(
                    "The ballots give proposal %(proposal)s a score of %(summed)s, but its published score is "
                    "%(score)s: the stored ballots no longer match the result, so they are not exported."
                ),
                proposal=project.id,
                summed=summed,
                score=project.score,
            )


def _in_minor_units(round_: PabulibRound) -> bool:
    """Whether some amount is not a whole number of major units, which the checker would round or add inexactly."""
    one = 10 ** CURRENCY_EXPONENTS.get(round_.currency, 0)
    amounts = [round_.budget_minor, *(project.cost_minor for project in round_.projects)]
    return any(amount % one for amount in amounts)


def _money(amount_minor: int, currency: str, in_minor: bool) -> str:
    if in_minor:
        major_units(amount_minor, currency)  # the same refusals: an unknown currency, a negative amount
        return str(amount_minor)
    return major_units(amount_minor, currency)


def _meta(round_: PabulibRound, num_votes: int, in_minor: bool) -> dict[str, str]:
    """The META rows, in the order the spec (and the checker) lists its keys."""
    max_points = math.isqrt(round_.credits)
    max_sum_points = max_total_votes(round_.credits, len(round_.projects))
    cast = len(round_.ballots)
    if round_.ballot_type == "approval":
        max_points = max_sum_points = 1
        ballots_were = "Approval voting: each voter approved any number of projects" + (
            f", at most {round_.max_approvals}." if round_.max_approvals is not None else "."
        )
    elif round_.ballot_type == "cumulative":
        max_points = max_sum_points = round_.credits
        ballots_were = f"Cumulative voting: each voter spread at most {round_.credits} points, one point costing one."
    else:
        ballots_were = (
            f"Quadratic voting: each voter had {round_.credits} voice credits and a ballot cost the sum of the "
            f"squares of its points, so one voter gave a project at most {max_points} points and at most "
            f"{max_sum_points} points in all."
        )
    equal_shares = round_.allocation_rule == "equal_shares"
    rule_was = (
        "Rule: the method of equal shares with Add1 (each voter's share grows by one unit of the currency while "
        "the outcome still fits the budget), then a greedy completion by total support of what is left; ties go to "
        "the smaller cost, then the earlier submission."
        if equal_shares
        else "Rule: greedy over the projects scoring above 0, highest score first, ties broken by the smaller cost "
        "and then the earlier submission (PROJECTS lists them in this order), each funded in full if it fits in "
        "what is left of the budget, otherwise skipped."
    )
    comments = [
        ballots_were,
        f"Costs and the budget are in {round_.currency}, in "
        + (
            f"minor units (1 {round_.currency} is {10 ** CURRENCY_EXPONENTS[round_.currency]}), as not every "
            f"amount is a whole number of {round_.currency}."
            if in_minor
            else "major units."
        ),
        rule_was,
        f"Quorum: at least {round_.quorum_percent}% of the {round_.eligible_voters} circle members had to vote and "
        f"{cast} did, so "
        + ("the quorum was met." if round_.quorum_met else "the quorum was not met and nothing was funded."),
    ]
    if cast > num_votes:
        empty = cast - num_votes
        comments.append(
            f"{empty} ballot{' gave' if empty == 1 else 's gave'} no points and "
            f"{'is' if empty == 1 else 'are'} not listed in VOTES, but "
            f"{'it' if empty == 1 else 'they'} counted towards the quorum."
        )
    if round_.allow_negative:
        comments.append(
            "Votes against a project were allowed: they are written as negative points."
            if _any_against(round_)
            else "Votes against a project were allowed, and none was cast."
        )
    if round_.secret_ballot:
        comments.append(
            "The ballot was secret: voter ids are anonymous labels numbered in the order of the ballots' contents."
        )
    meta = {
        "description": _text_cell(round_.description),
        "country": _text_cell(round_.country),
        "unit": _text_cell(round_.unit),
        "instance": _text_cell(round_.instance),
        "num_projects": str(len(round_.projects)),
        "num_votes": str(num_votes),
        "budget": _money(round_.budget_minor, round_.currency, in_minor),
        "vote_type": (
            "approval" if round_.ballot_type == "approval" else "scoring" if round_.allow_negative else "cumulative"
        ),
        "rule": _rule(round_),
        "date_begin": f"{round_.date_begin:%d.%m.%Y}",
        "date_end": f"{round_.date_end:%d.%m.%Y}",
    }
    if round_.ballot_type == "approval":
        if round_.max_approvals is not None:
            meta["max_length"] = str(round_.max_approvals)
    elif round_.allow_negative:
        meta |= {"min_points": str(-max_points), "max_points": str(max_points), "default_score": "0"}
    else:
        meta |= {"max_points": str(max_points), "max_sum_points": str(max_sum_points)}
    if round_.quorum_met and not equal_shares:
        meta["min_project_score_threshold"] = "1"
    meta["currency"] = round_.currency
    if sum(project.cost_minor for project in round_.projects) <= round_.budget_minor:
        meta["fully_funded"] = "1"
    meta["comment"] = " ".join(f"#{number}: {text}" for number, text in enumerate(comments, start=1))
    return meta


def _rule(round_: PabulibRound) -> str:
    """The spec's word for the rule: `greedy-threshold` (threshold 1), `equalshares/add1` when the completion
    funded nothing (then Add1 alone gave the outcome), and otherwise `unknown` for equal shares, whose completion no
    rule of the spec's names (the comment states it), or `greedy-custom` without quorum (nothing funded)."""
    if round_.allocation_rule == "equal_shares":
        return "equalshares/add1" if round_.quorum_met and not round_.completed else "unknown"
    return "greedy-threshold" if round_.quorum_met else "greedy-custom"


def _any_against(round_: PabulibRound) -> bool:
    project_ids = {project.id for project in round_.projects}
    return any(count < 0 and pid in project_ids for _, votes in round_.ballots for pid, count in votes.items())


def _text_cell(text: str) -> str:
    """A text cell: one line (see `_one_line`), and never read as a formula by a spreadsheet."""
    return spreadsheet_safe(_one_line(text))


def _one_line(text: str) -> str:
    """Control characters and every kind of line break or space run become one space; the ends are trimmed."""
    cleaned = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    return " ".join(cleaned.split())
