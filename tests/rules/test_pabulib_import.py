"""Reading Pabulib files: hand-written files of each vote type in the spec's format, clear errors with line numbers
for malformed ones, the size limit, and the round trip parse(export(round)) for the app's own exports."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundcircle.voting.pabulib import PabulibProject, pabulib_text
from fundcircle.voting.pabulib_import import MAX_FILE_BYTES, PabulibImportError, parse_pabulib
from fundcircle.voting.quadratic import Candidate, tally
from tests.pabulib_checker import checker_report
from tests.rules.test_pabulib import BALLOTS, WORKED

META = """META
key;value
description;"Hand-written; as in the spec"
country;Poland
unit;Warszawa
instance;2024
num_projects;3
num_votes;{votes}
budget;1000.50
vote_type;{vote_type}
rule;greedy
date_begin;01.01.2024
date_end;31.01.2024
"""
PROJECTS = """PROJECTS
project_id;cost;votes;score;name;category;selected
p1;600;2;{s1};"Park ""Green"" benches";nature,culture;1
p2;400.50;2;{s2};none;;1
p3;250;1;{s3};Library;education;0
"""


def _file(vote_type: str, votes: str, scores: tuple[str, str, str], count: int = 3) -> str:
    s1, s2, s3 = scores
    return META.format(votes=count, vote_type=vote_type) + PROJECTS.format(s1=s1, s2=s2, s3=s3) + votes


def test_an_approval_file_reads_into_projects_costs_and_ballots() -> None:
    text = _file("approval", "VOTES\nvoter_id;vote;age;sex\nv1;p1,p2;34;F\nv2;p1;none;M\nv3;p2,p3;;\n", ("", "", ""))
    read = parse_pabulib(text)
    assert read.vote_type == "approval" and read.budget == Fraction(2001, 2)
    assert read.meta["description"] == "Hand-written; as in the spec" and read.meta["country"] == "Poland"
    p1, p2, p3 = read.projects
    assert (p1.project_id, p1.cost, p1.name, p1.votes, p1.score, p1.selected) == (
        "p1", 600, 'Park "Green" benches', 2, None, 1
    )  # fmt: skip
    assert p1.fields == {"category": "nature,culture"}
    assert (p2.cost, p2.name) == (Fraction(801, 2), None)  # `none` is pabutools' spelling of a missing value
    assert p3.selected == 0
    assert [(v.voter_id, v.projects, v.points) for v in read.votes] == [
        ("v1", ("p1", "p2"), None), ("v2", ("p1",), None), ("v3", ("p2", "p3"), None)
    ]  # fmt: skip
    assert read.votes[0].fields == {"age": "34", "sex": "F"} and read.votes[0].points_by_project() == {
        "p1": 1, "p2": 1
    }  # fmt: skip


def test_cumulative_scoring_and_ordinal_files_read_with_their_points_or_order() -> None:
    cumulative = parse_pabulib(
        _file("cumulative", "VOTES\nvoter_id;vote;points\nv1;p1,p2;3,2\nv2;p1,p3;2.5,0.5\nv3;None;None\n", ("", "", ""))
    )
    assert [v.points_by_project() for v in cumulative.votes] == [
        {"p1": 3, "p2": 2}, {"p1": Fraction(5, 2), "p3": Fraction(1, 2)}, {}
    ]  # fmt: skip
    scoring = parse_pabulib(_file("scoring", "VOTES\nvoter_id;vote;points\nv1;p1,p3;2,-3\nv2;p2;-1\nv3;p3;1\n",
                                  ("2", "-1", "-2")))  # fmt: skip
    assert [v.points for v in scoring.votes] == [(2, -3), (-1,), (1,)]
    assert [p.score for p in scoring.projects] == [2, -1, -2]
    ordinal = parse_pabulib(_file("ordinal", "VOTES\nvoter_id;vote\nv1;p3,p1,p2\nv2;p2\nv3;p1,p3\n", ("", "", "")))
    assert [v.projects for v in ordinal.votes] == [("p3", "p1", "p2"), ("p2",), ("p1", "p3")]
    assert all(v.points is None for v in ordinal.votes)


def test_crlf_lines_a_byte_order_mark_and_blank_lines_are_read_as_the_same_file() -> None:
    text = _file("approval", "VOTES\nvoter_id;vote\nv1;p1,p2\nv2;p1\nv3;p2,p3\n", ("", "", ""))
    plain = parse_pabulib(text)
    assert parse_pabulib(("\ufeff" + text.replace("\n", "\r\n\r\n")).encode("utf-8")) == plain


MALFORMED = [
    ("key;value\nbudget;1\n", 1, "starts with the line META"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nVOTES\n", 5, "VOTES is not expected here"),
    ("META\nkey;value\nbudget;1\nbudget;2\n", 4, r"META has budget twice \(first on line 3\)"),
    ("META\nkey;value\nbudget;1,5\nvote_type;approval\nPROJECTS\nproject_id;cost\n", 3, "decimals are written with"),
    ("META\nkey;value\nbudget;1\nvote_type;plurality\nPROJECTS\nproject_id;cost\n", 4, "vote_type 'plurality'"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nid;cost\n", 6, "header starts with project_id"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;-5\n", 7, "cannot be negative"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;5;x\n", 7, "3 cells, but"),
    ('META\nkey;value\ndescription;"open\nbudget;1\n', 3, "the quoting is broken"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;5\np1;6\n", 8, "listed twice"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;5\nVOTES\nvoter_id;vote\n"
     "v1;p1,p9\n", 10, "votes for 'p9', which PROJECTS does not list"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;5\nVOTES\nvoter_id;vote;points\n"
     "v1;p1;4\n", 10, "a approval ballot has none"),
    ("META\nkey;value\nbudget;1\nvote_type;cumulative\nPROJECTS\nproject_id;cost\np1;5\nVOTES\nvoter_id;vote;points\n"
     "v1;p1;-4\n", 10, "cumulative points cannot be negative"),
    ("META\nkey;value\nbudget;1\nvote_type;scoring\nPROJECTS\nproject_id;cost\np1;5\np2;5\nVOTES\n"
     "voter_id;vote;points\nv1;p1,p2;4\n", 11, "lists 2 projects and 1 points"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;5\nVOTES\nvoter_id;vote\n"
     "v1;p1\nv1;p1\n", 11, "voter v1 is listed twice"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nnum_votes;2\nPROJECTS\nproject_id;cost\np1;5\nVOTES\n"
     "voter_id;vote\nv1;p1\n", 5, "num_votes is '2', but the file lists 1"),
    ("META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\np1;5\n", None, "no VOTES section"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), MALFORMED)
def test_a_malformed_file_is_refused_with_the_line_at_fault(text: str, line: int | None, message: str) -> None:
    with pytest.raises(PabulibImportError, match=message) as refused:
        parse_pabulib(text)
    assert refused.value.line == line
    assert str(refused.value).startswith(f"Line {line}: " if line else str(refused.value)[:1])


def test_a_file_that_is_not_utf8_is_refused_with_its_line() -> None:
    with pytest.raises(PabulibImportError, match="Line 3: The file is not UTF-8"):
        parse_pabulib(b"META\nkey;value\ndescription;caf\xe9\n")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read() -> None:
    text = _file("approval", "VOTES\nvoter_id;vote\nv1;p1,p2\nv2;p1\nv3;p2,p3\n", ("", "", ""))
    size = len(text.encode("utf-8"))
    assert parse_pabulib(text, max_bytes=size).votes
    with pytest.raises(PabulibImportError, match=f"The file is larger than {size:,} bytes, the most that is read"):
        parse_pabulib(text + "é", max_bytes=size)  # one character, two bytes
    with pytest.raises(PabulibImportError, match="larger than"):
        parse_pabulib(b" " * (MAX_FILE_BYTES + 1))


def test_the_worked_example_round_trips_through_its_export() -> None:
    read = parse_pabulib(pabulib_text(WORKED))
    assert read.vote_type == "cumulative" and read.budget == 1000
    assert [(p.project_id, p.cost, p.name, p.score, p.selected) for p in read.projects] == [
        (str(p.id), Fraction(p.cost_minor, 100), p.title, p.score, int(p.selected)) for p in WORKED.projects
    ]
    assert {v.voter_id: v.points_by_project() for v in read.votes} == {
        label: {str(pid): n for pid, n in votes.items()} for label, votes in BALLOTS
    }


ballots_strategy = st.lists(
    st.dictionaries(st.integers(1, 6), st.integers(-10, 10).filter(bool), max_size=6), min_size=1, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(
    ballots=ballots_strategy,
    costs=st.lists(st.integers(1, 60_000), min_size=6, max_size=6),
    budget=st.integers(1, 150_000),
    secret=st.booleans(),
)
def test_parse_of_an_export_gives_back_its_projects_costs_and_votes_and_the_checker_accepts_it(
    ballots: list[dict[int, int]], costs: list[int], budget: int, secret: bool
) -> None:
    budget = max(budget, *costs)  # the app keeps every proposal within the budget
    result = tally(
        ballots,
        [Candidate(pid, cost, pid) for pid, cost in enumerate(costs, start=1)],
        budget_minor=budget,
        currency="EUR",
        eligible_voters=len(ballots),
        quorum_percent=50,
    )
    round_ = replace(
        WORKED,
        budget_minor=budget,
        allow_negative=True,
        secret_ballot=secret,
        eligible_voters=len(ballots),
        quorum_met=result.quorum_met,
        projects=tuple(
            PabulibProject(o.proposal_id, f"Proposal {o.proposal_id}", o.amount_minor, o.score, o.funded)
            for o in result.outcomes
        ),
        ballots=tuple((str(100 + n), votes) for n, votes in enumerate(ballots)),
    )
    text = pabulib_text(round_)
    assert not checker_report(text)["errors"], text
    read = parse_pabulib(text)
    unit = 1 if any(amount % 100 for amount in [budget, *costs]) else 100  # not all whole euros: in cents
    assert read.vote_type == "scoring" and read.budget == Fraction(budget, unit)
    assert [(p.project_id, p.cost, p.score, p.selected) for p in read.projects] == [
        (str(o.proposal_id), Fraction(o.amount_minor, unit), o.score, int(o.funded)) for o in result.outcomes
    ]
    read_back = sorted(tuple(sorted(v.points_by_project().items())) for v in read.votes)
    assert read_back == sorted(tuple(sorted((str(pid), Fraction(n)) for pid, n in b.items())) for b in ballots if b)
    if not secret:
        assert {v.voter_id for v in read.votes} == {label for label, votes in round_.ballots if votes}


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list('META\nPROJECTS;VOTES,key value"budget1-.p_id\r')), max_size=300))
def test_any_text_is_read_or_refused_in_words_never_with_another_error(text: str) -> None:
    try:
        parse_pabulib(text)
    except PabulibImportError as refused:
        assert str(refused)
