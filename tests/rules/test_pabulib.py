"""The Pabulib export: PRODUCT.md's worked example read back by pabutools, exact money, votes against written as
scoring ballots, empty ballots left out, anonymous secret ballots, text that cannot break the file's lines or
sections nor run as a spreadsheet formula; and every file written here passes the official pabulib-checker."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
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
from fundcircle.voting.quadratic import Candidate, ballot_cost, tally
from tests.pabulib_checker import assert_checker_accepts

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
    """pabutools' reading of an exported file, once the official checker has accepted it."""
    assert_checker_accepts(text)
    path = tmp_path / "round.pb"
    path.write_text(text, encoding="utf-8")
    return parse_pabulib(str(path))


def _decided(
    ballots: tuple[tuple[str, Mapping[int, int]], ...],
    costs: Mapping[int, int],
    *,
    eligible_voters: int | None = None,
    titles: Mapping[int, str] | None = None,
    **settings: Any,
) -> PabulibRound:
    """WORKED with other proposals and ballots, decided by the app's own tally (proposal ids in submission order)."""
    eligible = len(ballots) if eligible_voters is None else eligible_voters
    result = tally(
        [votes for _, votes in ballots],
        [Candidate(pid, cost, pid) for pid, cost in costs.items()],
        budget_minor=settings.get("budget_minor", WORKED.budget_minor),
        currency="EUR",
        eligible_voters=eligible,
        quorum_percent=WORKED.quorum_percent,
    )
    projects = tuple(
        PabulibProject(o.proposal_id, (titles or {}).get(o.proposal_id, f"Proposal {o.proposal_id}"),
                       o.amount_minor, o.score, o.funded)
        for o in result.outcomes
    )  # fmt: skip
    return replace(
        WORKED, projects=projects, ballots=ballots, eligible_voters=eligible, quorum_met=result.quorum_met, **settings
    )


def _meta(text: str) -> dict[str, str]:
    lines = text.splitlines()
    return dict(line.split(";", 1) for line in lines[2 : lines.index("PROJECTS")])


def _votes(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[lines.index("VOTES") + 2 :]


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
        "102;3,4,1;6,6,5",
        "103;2,4;8,6",
        "104;1,2,3,4;3,3,3,3",
    ]
    meta = _meta(pabulib_text(WORKED))
    for key in ("description", "country", "unit", "instance", "num_projects", "num_votes", "budget", "vote_type",
                "rule", "date_begin", "date_end", "max_sum_points"):  # fmt: skip
        assert meta[key], key
    # only proposals scoring above 0 are funded: the spec's greedy-threshold, with the threshold it needs
    assert meta["vote_type"] == "cumulative" and meta["rule"] == "greedy-threshold"
    assert meta["min_project_score_threshold"] == "1"


def test_every_ballot_lists_its_projects_by_decreasing_points_and_the_checker_has_no_warning_about_it() -> None:
    text = pabulib_text(_decided((("101", {A: 1, B: 9, C: 4, D: 4}),), COSTS))
    assert _votes(text) == ["101;2,3,4,1;9,4,4,1"]  # equal points: the smaller id first
    warnings = assert_checker_accepts(text)
    assert "vote order not sorted by points" not in warnings


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
    # not every amount is whole euros, so the file is in cents: pabulib-checker adds costs in floating point
    instance, _ = _parse(pabulib_text(cents), tmp_path)
    assert instance.budget_limit == 100_001 and "in minor units (1 EUR is 100)" in instance.meta["comment"]
    assert {p.name: p.cost for p in instance} == {"1": 40_000, "2": 34_999, "3": 30_000, "4": 20_000}


def test_a_round_with_votes_against_is_written_as_scoring_ballots_with_negative_points(tmp_path: Path) -> None:
    ballots = (*BALLOTS[:3], ("104", {A: 3, B: 3, C: -3, D: 3}), ("105", {B: -9, C: 2, A: -1}))
    against = _decided(ballots, COSTS, allow_negative=True)
    text = pabulib_text(against)
    meta = _meta(text)
    assert (meta["vote_type"], meta["min_points"], meta["max_points"], meta["default_score"]) == (
        "scoring", "-10", "10", "0"
    )  # fmt: skip
    assert "max_sum_points" not in meta  # a cumulative key: a scoring ballot's points do not add up to a budget
    assert _votes(text)[-2:] == ["104;1,2,4,3;3,3,3,-3", "105;3,1,2;2,-1,-9"]
    instance, profile = _parse(text, tmp_path)
    assert type(profile).__name__ == "CardinalProfile"
    assert [{int(p.name): n for p, n in ballot.items()} for ballot in profile] == [dict(v) for _, v in ballots]
    scores = {int(p.name): int(instance.project_meta[p]["score"]) for p in instance}
    assert scores == {A: 14, B: 7, C: 9, D: 15}
    assert _recompute(instance, profile, text) == [str(o.id) for o in against.projects if o.selected]


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
    # 105's one vote was for the withdrawn proposal: its ballot is empty and left out, as the tally gave it nothing
    assert [ballot.meta["voter_id"] for ballot in profile] == ["101", "102", "103", "104"]
    assert "1 ballot gave no points and is not listed in VOTES" in instance.meta["comment"]


def test_an_empty_ballot_is_left_out_of_votes_and_the_comment_counts_it_towards_the_quorum(tmp_path: Path) -> None:
    text = pabulib_text(replace(WORKED, ballots=(*BALLOTS, ("105", {})), eligible_voters=5))
    assert "None" not in text and not any(row.startswith("105;") for row in _votes(text))
    instance, profile = _parse(text, tmp_path)
    assert profile.num_ballots() == 4 and instance.meta["num_votes"] == "4"
    comment = instance.meta["comment"]
    assert "at least 50% of the 5 circle members had to vote and 5 did" in comment
    assert "1 ballot gave no points and is not listed in VOTES" in comment


def test_without_quorum_the_file_says_nothing_was_funded(tmp_path: Path) -> None:
    no_quorum = replace(
        WORKED, eligible_voters=10, quorum_met=False, projects=tuple(replace(p, selected=False) for p in PROJECTS)
    )
    instance, _ = _parse(pabulib_text(no_quorum), tmp_path)
    # greedy-threshold would fund B, D and A: the quorum is a custom rule on top, which the comment describes
    assert instance.meta["rule"] == "greedy-custom"
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


def test_titles_that_a_spreadsheet_would_run_as_formulas_go_out_escaped(tmp_path: Path) -> None:
    formulas = {A: '=HYPERLINK("http://x")', B: "+1+1", C: "-2 trees", D: "@SUM(A1)"}
    round_ = replace(
        WORKED,
        description="=cmd|' /C calc'!A0",
        unit="+Seed Savers",
        instance="\t=1+1",
        projects=tuple(replace(p, title=formulas[p.id]) for p in PROJECTS),
    )
    instance, _ = _parse(pabulib_text(round_), tmp_path)
    assert {int(p.name): instance.project_meta[p]["name"] for p in instance} == {
        pid: "'" + title for pid, title in formulas.items()
    }
    assert (instance.meta["description"], instance.meta["unit"], instance.meta["instance"]) == (
        "'=cmd|' /C calc'!A0", "'+Seed Savers", "'=1+1"
    )  # fmt: skip


def test_ties_are_written_in_the_order_the_budget_was_walked_and_pass_the_checker(tmp_path: Path) -> None:
    # A, B and C tie at 6: C asks least, then A and B ask the same and A was submitted first; the budget fits two
    # of them, then D; E got no votes, so it is not funded although it would fit
    E = 5
    costs = {A: 30_000, B: 30_000, C: 20_000, D: 10_000, E: 5_000}
    ballots = (("101", {A: 3, B: 3, C: 3}), ("102", {A: 3, B: 3, C: 3, D: 1}))
    round_ = _decided(ballots, costs, budget_minor=65_000)
    assert [(p.id, p.selected) for p in round_.projects] == [(C, True), (A, True), (B, False), (D, True), (E, False)]
    text = pabulib_text(round_)
    instance, profile = _parse(text, tmp_path)
    assert _recompute(instance, profile, text) == ["3", "1", "4"]


def test_a_round_where_nothing_is_funded_passes_the_checker(tmp_path: Path) -> None:
    # every proposal scores 0 or less, so none is funded although all fit in the budget
    ballots = (("101", {A: 2, B: -1}), ("102", {A: -2, C: -1}))
    round_ = _decided(ballots, COSTS, allow_negative=True)
    assert not any(p.selected for p in round_.projects) and round_.quorum_met
    text = pabulib_text(round_)
    instance, profile = _parse(text, tmp_path)
    assert instance.meta["rule"] == "greedy-threshold" and _recompute(instance, profile, text) == []


def test_a_budget_that_covers_every_proposal_is_flagged_fully_funded(tmp_path: Path) -> None:
    round_ = _decided(BALLOTS, COSTS, budget_minor=125_000)  # exactly the sum of what they ask
    instance, _ = _parse(pabulib_text(round_), tmp_path)
    assert instance.meta["fully_funded"] == "1"
    assert "fully_funded" not in _meta(pabulib_text(WORKED))  # 1,250.00 asked of 1,000.00


def test_a_proposal_asking_less_than_one_euro_puts_the_file_in_cents_so_no_cost_reads_as_0(tmp_path: Path) -> None:
    round_ = _decided(BALLOTS, {**COSTS, D: 50}, budget_minor=100_000)
    instance, profile = _parse(pabulib_text(round_), tmp_path)
    assert instance.budget_limit == 100_000 and {p.name: p.cost for p in instance}["4"] == 50
    assert "Costs and the budget are in EUR, in minor units (1 EUR is 100)" in instance.meta["comment"]
    assert _recompute(instance, profile, pabulib_text(round_)) == [str(p.id) for p in round_.projects if p.selected]


def test_amounts_in_cents_are_walked_as_the_app_walked_them(tmp_path: Path) -> None:
    # 1,000.30 less 400.10 is 600.20 exactly, which a walk in floating point misses
    round_ = _decided((("101", {A: 2, B: 1}),), {A: 40_010, B: 60_020}, budget_minor=100_030)
    assert [p.selected for p in round_.projects] == [True, True]
    text = pabulib_text(round_)
    instance, profile = _parse(text, tmp_path)
    assert _recompute(instance, profile, text) == ["1", "2"]


def test_a_vote_against_in_a_round_that_did_not_allow_them_is_not_exported() -> None:
    tampered = replace(WORKED, ballots=(*BALLOTS[:3], ("104", {A: 3, B: 3, C: 3, D: -3})))
    with pytest.raises(PabulibError, match="votes against proposal 4, but the round did not allow votes against"):
        pabulib_text(tampered)
