"""The Pabulib export: PRODUCT.md's worked example read back by pabutools, exact money, votes against refused,
anonymous secret ballots, and text that cannot break the file's lines or sections."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pabutools.election import parse_pabulib

from fundcircle.voting.pabulib import (
    PabulibError,
    PabulibProject,
    PabulibRound,
    anonymous_ballots,
    major_units,
    max_total_votes,
    pabulib_text,
)
from fundcircle.voting.quadratic import ballot_cost

A, B, C, D = 1, 2, 3, 4
COSTS = {A: 40_000, B: 35_000, C: 30_000, D: 20_000}
#: PRODUCT.md's worked example, in the order the budget was walked: B 16, D 15 (asks less than A), A 15, C 13.
PROJECTS = (
    PabulibProject(B, "Proposal B", 35_000, 16, True),
    PabulibProject(D, "Proposal D", 20_000, 15, True),
    PabulibProject(A, "Proposal A", 40_000, 15, True),
    PabulibProject(C, "Proposal C", 30_000, 13, False),
)
BALLOTS: tuple[tuple[str, Mapping[int, int]], ...] = (
    ("101", {A: 7, B: 5, C: 4}),
    ("102", {A: 5, C: 6, D: 6}),
    ("103", {B: 8, D: 6}),
    ("104", {A: 3, B: 3, C: 3, D: 3}),
)
WORKED = PabulibRound(
    description="Spring micro-grants (Seed Savers, a Fund Circle quadratic voting round)",
    country="Worldwide",
    unit="Seed Savers",
    instance="Round 7: Spring micro-grants",
    currency="EUR",
    budget_minor=100_000,
    date_begin=date(2025, 3, 1),
    date_end=date(2025, 3, 21),
    credits=100,
    allow_negative=False,
    secret_ballot=False,
    quorum_percent=50,
    eligible_voters=4,
    quorum_met=True,
    projects=PROJECTS,
    ballots=BALLOTS,
)


def _parse(text: str, tmp_path: Path) -> tuple[Any, Any]:
    path = tmp_path / "round.pb"
    path.write_text(text, encoding="utf-8")
    return parse_pabulib(str(path))


def _recompute(instance: Any, profile: Any, text: str) -> list[str]:
    """What a researcher would do: sum the points, order by score, then cost, then the order of PROJECTS (which
    pabutools' set of projects does not keep), and walk the budget funding what scores and fits. Returns the funded
    project ids in funding order."""
    lines = text.splitlines()
    rows = lines[lines.index("PROJECTS") + 2 : lines.index("VOTES")]
    order = {row.split(";", 1)[0]: index for index, row in enumerate(rows)}
    scores = {project: sum(ballot.get(project, 0) for ballot in profile) for project in instance}
    left = instance.budget_limit
    funded = []
    for project in sorted(instance, key=lambda p: (-scores[p], p.cost, order[p.name])):
        if scores[project] > 0 and project.cost <= left:
            funded.append(project.name)
            left -= project.cost
    return funded


def test_the_worked_example_parses_with_pabutools_into_the_same_projects_costs_budget_and_ballots(
    tmp_path: Path,
) -> None:
    instance, profile = _parse(pabulib_text(WORKED), tmp_path)

    assert instance.budget_limit == 1000 and instance.meta["currency"] == "EUR"
    assert {project.name: project.cost for project in instance} == {"1": 400, "2": 350, "3": 300, "4": 200}
    assert {p.name: instance.project_meta[p]["name"] for p in instance} == {
        str(pid): f"Proposal {letter}" for pid, letter in zip((A, B, C, D), "ABCD", strict=True)
    }
    assert {p.name: int(instance.project_meta[p]["score"]) for p in instance} == {"1": 15, "2": 16, "3": 13, "4": 15}
    assert {p.name: int(instance.project_meta[p]["votes"]) for p in instance} == {"1": 3, "2": 3, "3": 3, "4": 3}
    assert {p.name for p in instance if instance.project_meta[p]["selected"] == "1"} == {"1", "2", "4"}

    assert type(profile).__name__ == "CumulativeProfile" and profile.num_ballots() == 4
    read_back = [
        (ballot.meta["voter_id"], {int(project.name): points for project, points in ballot.items()})
        for ballot in profile
    ]
    assert read_back == [(label, dict(votes)) for label, votes in BALLOTS]
    # pabutools 1.2.3 reads max_sum_points into the profile and keeps max_points only in meta
    assert profile.legal_max_total_score == 20 and instance.meta["max_points"] == "10"
    assert instance.meta["num_projects"] == "4" and instance.meta["num_votes"] == "4"
    assert (instance.meta["date_begin"], instance.meta["date_end"]) == ("01.03.2025", "21.03.2025")
    assert instance.meta["comment"].startswith("#1: Quadratic voting: each voter had 100 voice credits")


def test_summing_and_walking_the_parsed_file_gives_back_the_outcome(tmp_path: Path) -> None:
    text = pabulib_text(WORKED)
    instance, profile = _parse(text, tmp_path)
    assert _recompute(instance, profile, text) == ["2", "4", "1"]


def test_the_sections_are_written_as_the_format_and_the_parser_expect() -> None:
    lines = pabulib_text(WORKED).splitlines()
    assert lines[:2] == ["META", "key;value"]
    assert lines[lines.index("PROJECTS") + 1] == "project_id;cost;votes;score;name;selected"
    assert lines[lines.index("PROJECTS") + 2] == "2;350;3;16;Proposal B;1"
    assert lines[lines.index("VOTES") + 1 :] == [
        "voter_id;vote;points",
        "101;1,2,3;7,5,4",
        "102;1,3,4;5,6,6",
        "103;2,4;8,6",
        "104;1,2,3,4;3,3,3,3",
    ]
    meta = dict(line.split(";", 1) for line in lines[2 : lines.index("PROJECTS")])
    for key in ("description", "country", "unit", "instance", "num_projects", "num_votes", "budget", "vote_type",
                "rule", "date_begin", "date_end", "max_sum_points"):  # fmt: skip
        assert meta[key], key
    assert meta["vote_type"] == "cumulative" and meta["rule"] == "greedy"


def test_money_is_exact_in_major_units_whatever_the_minor_unit(tmp_path: Path) -> None:
    assert [major_units(n, "EUR") for n in (0, 5, 40_000, 40_050, 12_345)] == ["0", "0.05", "400", "400.50", "123.45"]
    assert major_units(1_500, "JPY") == "1500"
    with pytest.raises(PabulibError):
        major_units(-1, "EUR")
    with pytest.raises(PabulibError):
        major_units(100, "XXX")
    cents = replace(
        WORKED,
        budget_minor=100_001,
        projects=(replace(PROJECTS[0], cost_minor=34_999),) + PROJECTS[1:],
    )
    instance, _ = _parse(pabulib_text(cents), tmp_path)
    assert instance.budget_limit == Fraction(100_001, 100)
    assert {p.name: p.cost for p in instance}["2"] == Fraction(34_999, 100)


def test_a_vote_against_a_project_refuses_the_export_rather_than_change_the_scores() -> None:
    against = replace(
        WORKED,
        allow_negative=True,
        projects=(replace(PROJECTS[0], score=15),) + PROJECTS[1:],
        ballots=BALLOTS[:3] + (("104", {A: 3, B: 2, C: 3, D: 3}),) + (("105", {B: -1}),),
    )
    with pytest.raises(PabulibError, match="votes against proposal 2.*cumulative points cannot be negative"):
        pabulib_text(against)


def test_a_round_that_allowed_votes_against_but_got_none_is_exported_and_says_so(tmp_path: Path) -> None:
    instance, _ = _parse(pabulib_text(replace(WORKED, allow_negative=True)), tmp_path)
    assert "Votes against a project were allowed, and none was cast." in instance.meta["comment"]


def test_votes_for_proposals_that_were_not_tallied_are_left_out_as_the_tally_left_them_out(tmp_path: Path) -> None:
    withdrawn = 99
    ballots = ((BALLOTS[0][0], {**BALLOTS[0][1], withdrawn: 2}), ("105", {withdrawn: -3}), *BALLOTS[1:])
    text = pabulib_text(replace(WORKED, ballots=ballots, allow_negative=True))
    instance, profile = _parse(text, tmp_path)
    assert "99" not in {p.name for p in instance}
    assert {int(project.name): points for project, points in profile[0].items()} == BALLOTS[0][1]
    assert dict(profile[1]) == {} and profile[1].meta == {"voter_id": "105"}  # its one vote was for the withdrawn


def test_an_empty_ballot_is_kept_as_it_counted_towards_the_quorum(tmp_path: Path) -> None:
    text = pabulib_text(replace(WORKED, ballots=(*BALLOTS, ("105", {})), eligible_voters=5))
    assert "105;None;None" in text.splitlines()
    instance, profile = _parse(text, tmp_path)
    assert profile.num_ballots() == 5 and dict(profile[4]) == {} and instance.meta["num_votes"] == "5"
    assert "at least 50% of the 5 circle members had to vote and 5 did" in instance.meta["comment"]


def test_without_quorum_the_file_says_nothing_was_funded(tmp_path: Path) -> None:
    no_quorum = replace(
        WORKED, eligible_voters=10, quorum_met=False, projects=tuple(replace(p, selected=False) for p in PROJECTS)
    )
    instance, _ = _parse(pabulib_text(no_quorum), tmp_path)
    comment = instance.meta["comment"]
    assert "10 circle members had to vote and 4 did, so the quorum was not met and nothing was funded" in comment
    assert {instance.project_meta[p]["selected"] for p in instance} == {"0"}


def test_ballots_that_do_not_add_up_to_the_published_scores_are_not_exported() -> None:
    tampered = replace(WORKED, ballots=(("101", {A: 7, B: 5, C: 5}), *BALLOTS[1:]))
    with pytest.raises(PabulibError, match="give proposal 3 a score of 14, but its published score is 13"):
        pabulib_text(tampered)


def test_open_ballot_voters_need_labels_of_their_own() -> None:
    with pytest.raises(PabulibError, match="label of their own"):
        pabulib_text(replace(WORKED, ballots=(("101", BALLOTS[0][1]), ("101", BALLOTS[1][1]), *BALLOTS[2:])))
    with pytest.raises(PabulibError, match="label of their own"):
        pabulib_text(replace(WORKED, ballots=((" \n", BALLOTS[0][1]), *BALLOTS[1:])))


def test_a_secret_ballot_is_written_with_anonymous_labels_in_an_order_that_reveals_nothing(tmp_path: Path) -> None:
    secret = replace(WORKED, secret_ballot=True)
    text = pabulib_text(secret)
    assert not any(label in text for label, _ in BALLOTS)
    assert "The ballot was secret" in text
    # the same ballots in any order, with any labels, give the very same file
    for order in itertools.permutations(BALLOTS):
        relabelled = tuple((f"user-{random.randrange(10**6)}", votes) for _, votes in order)
        assert pabulib_text(replace(secret, ballots=relabelled)) == text
    instance, profile = _parse(text, tmp_path)
    assert [ballot.meta["voter_id"] for ballot in profile] == ["anon-1", "anon-2", "anon-3", "anon-4"]
    assert sorted(tuple(sorted((int(p.name), n) for p, n in ballot.items())) for ballot in profile) == sorted(
        tuple(sorted(votes.items())) for _, votes in BALLOTS
    )
    assert _recompute(instance, profile, text) == ["2", "4", "1"]


def test_anonymous_labels_follow_the_ballots_contents() -> None:
    assert anonymous_ballots([{2: 1}, {1: 3, 2: 1}, {1: 3}]) == [
        ("anon-1", {1: 3}),
        ("anon-2", {1: 3, 2: 1}),
        ("anon-3", {2: 1}),
    ]


def test_titles_and_names_cannot_break_a_line_or_open_a_section(tmp_path: Path) -> None:
    sneaky = 'Seeds; tools and "things"\nVOTES\nvoter_id;vote;points\r\nx;1;99\u2028end\x85\x0b\x00'
    round_ = replace(
        WORKED,
        description=sneaky,
        unit="Circle\nPROJECTS",
        projects=(replace(PROJECTS[0], title=sneaky),) + PROJECTS[1:],
    )
    text = pabulib_text(round_)
    assert text.count("\n") == len(text.splitlines()) == len(pabulib_text(WORKED).splitlines())
    instance, profile = _parse(text, tmp_path)
    flat = 'Seeds; tools and "things" VOTES voter_id;vote;points x;1;99 end'
    assert instance.meta["description"] == flat and instance.meta["unit"] == "Circle PROJECTS"
    assert {p.name: instance.project_meta[p].get("name") for p in instance}["2"] == flat
    assert profile.num_ballots() == 4 and len(instance) == 4


def test_the_most_votes_a_ballot_can_give_is_the_even_spread_that_fits_the_credits() -> None:
    assert max_total_votes(100, 4) == 20 and max_total_votes(100, 1) == 10 and max_total_votes(100, 0) == 0
    assert max_total_votes(100, 3) == 17  # 6 + 6 + 5 costs 97; 6 + 6 + 6 costs 108


@given(credits=st.integers(min_value=1, max_value=40), projects=st.integers(min_value=1, max_value=3))
def test_no_ballot_within_its_credits_gives_more_votes_than_max_sum_points(credits: int, projects: int) -> None:
    top = max(
        sum(votes)
        for votes in itertools.product(range(7), repeat=projects)
        if ballot_cost(dict(enumerate(votes))) <= credits
    )
    assert max_total_votes(credits, projects) == top
