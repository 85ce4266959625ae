"""The Pabulib export of a decided quadratic round: through the export service, and through
`GET /api/v1/rounds/{id}/results.pb` with its access rules and refusals. Every file exported here must pass the
official pabulib-checker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pabutools.election import parse_pabulib

from fundcircle.db import utcnow
from fundcircle.errors import Conflict
from fundcircle.extensions import db
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.pabulib_export import export_pabulib
from fundcircle.voting.pabulib_import import parse_pabulib as parse_pabulib_file
from fundcircle.voting.services import cast_ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user
from tests.pabulib_checker import assert_checker_accepts

AMOUNTS = {"A": 40_000, "B": 35_000, "C": 30_000, "D": 20_000}
#: PRODUCT.md's worked example: B, D and A are funded, C is skipped.
WORKED_BALLOTS = [
    {"A": 7, "B": 5, "C": 4},
    {"A": 5, "C": 6, "D": 6},
    {"B": 8, "D": 6},
    {"A": 3, "B": 3, "C": 3, "D": 3},
]
VOTER_NAMES = ["Ada Quill", "Bram Oakes", "Cleo Marsh", "Dov Finch"]


@dataclass
class World:
    round_id: int
    proposals: dict[str, int]
    voter_ids: list[int]
    voter_emails: list[str]
    member_token: str
    outsider_token: str


def _round(
    app: Flask,
    *,
    public: bool = False,
    decide: bool = True,
    ballots: list[dict[str, int]] | None = None,
    titles: dict[str, str] | None = None,
    **settings: Any,
) -> World:
    """PRODUCT.md's worked example (budget 1,000.00 EUR, four proposals, four circle members), voted, and decided
    unless `decide` is false."""
    with app.app_context():
        admin = make_user(name="Admin")
        circle = make_circle(admin, public=public)
        settings = {"categories": [], "budget_minor": 100_000, "per_proposal_cap_minor": 40_000, **settings}
        round_ = make_round(circle, admin, max_proposals_per_member=5, **settings)
        advance_round(admin, round_, "proposals", utcnow())
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        db.session.commit()
        proposals = {
            name: make_proposal(
                round_,
                author,
                title=(titles or {}).get(name, f"Proposal {name}"),
                amount_minor=amount,
                category=None,
                payee_slug=f"p-{name}",
            ).id
            for name, amount in AMOUNTS.items()
        }
        voters = []
        for name in VOTER_NAMES:
            voter = make_user(name=name)
            add_member(circle, voter, ["member", "circle"], by=admin)
            voters.append(voter)
        round_ = db.session.get(Round, round_.id)
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        for voter, votes in zip(voters, WORKED_BALLOTS if ballots is None else ballots, strict=False):
            cast_ballot(voter, round_, {proposals[n]: v for n, v in votes.items()}, utcnow())
            db.session.commit()
        if decide:
            advance_round(admin, round_, "decided", utcnow())
            db.session.commit()
        return World(
            round_.id,
            proposals,
            [voter.id for voter in voters],
            [voter.email for voter in voters],
            make_token(voters[0]),
            make_token(make_user(name="Outsider")),
        )


def _export(app: Flask, round_id: int) -> str:
    """The round's export, once the official checker has accepted it."""
    with app.app_context():
        text = export_pabulib(db.session.get(Round, round_id))
    assert_checker_accepts(text)
    return text


def _parse(text: str, tmp_path: Path) -> tuple[Any, Any]:
    path = tmp_path / "round.pb"
    path.write_text(text, encoding="utf-8")
    return parse_pabulib(str(path))


def _votes_section(text: str) -> list[list[str]]:
    lines = text.splitlines()
    return [line.split(";") for line in lines[lines.index("VOTES") + 2 :]]


def test_the_worked_example_exports_the_same_projects_costs_budget_and_ballots(app: Flask, tmp_path: Path) -> None:
    world = _round(app)
    instance, profile = _parse(_export(app, world.round_id), tmp_path)

    ids = world.proposals
    assert instance.budget_limit == 1000 and instance.meta["currency"] == "EUR"
    assert {p.name: p.cost for p in instance} == {str(ids[n]): amount // 100 for n, amount in AMOUNTS.items()}
    assert {p.name: instance.project_meta[p]["name"] for p in instance} == {str(ids[n]): f"Proposal {n}" for n in ids}
    assert {p.name: instance.project_meta[p]["score"] for p in instance} == {
        str(ids["A"]): "15", str(ids["B"]): "16", str(ids["C"]): "13", str(ids["D"]): "15"
    }  # fmt: skip
    assert {p.name for p in instance if instance.project_meta[p]["selected"] == "1"} == {
        str(ids["A"]), str(ids["B"]), str(ids["D"])
    }  # fmt: skip
    # an open ballot: each voter is their user id, with the votes they cast
    read_back = {
        ballot.meta["voter_id"]: {int(project.name): int(points) for project, points in ballot.items()}
        for ballot in profile
    }
    assert read_back == {
        str(user_id): {ids[n]: v for n, v in votes.items()}
        for user_id, votes in zip(world.voter_ids, WORKED_BALLOTS, strict=True)
    }
    today = f"{utcnow():%d.%m.%Y}"
    assert instance.meta["num_votes"] == "4" and (instance.meta["date_begin"], instance.meta["date_end"]) == (
        today,
        today,
    )
    assert "4 circle members had to vote and 4 did, so the quorum was met" in instance.meta["comment"]


def test_a_secret_ballot_is_exported_without_user_ids_or_names(app: Flask, tmp_path: Path) -> None:
    world = _round(app, secret_ballot=True)
    text = _export(app, world.round_id)

    voter_ids = [row[0] for row in _votes_section(text)]
    assert voter_ids == ["anon-1", "anon-2", "anon-3", "anon-4"]
    assert not {str(user_id) for user_id in world.voter_ids} & set(voter_ids)
    for secret in [*VOTER_NAMES, *world.voter_emails, "@"]:
        assert secret not in text
    _, profile = _parse(text, tmp_path)
    ids = world.proposals
    assert sorted(sorted((int(p.name), int(n)) for p, n in ballot.items()) for ballot in profile) == sorted(
        sorted((ids[n], v) for n, v in votes.items()) for votes in WORKED_BALLOTS
    )


def test_there_is_nothing_to_export_before_the_round_is_decided_or_for_a_consent_round(app: Flask) -> None:
    world = _round(app, decide=False)
    with pytest.raises(Conflict, match="no result yet"):
        _export(app, world.round_id)
    with app.app_context():
        admin = make_user()
        consent = make_round(make_circle(admin), admin, method="consent")
        with pytest.raises(Conflict, match="decides by consent"):
            export_pabulib(consent)


def test_a_round_with_a_vote_against_exports_as_scoring_ballots_with_the_same_scores(
    app: Flask, tmp_path: Path
) -> None:
    against = [*WORKED_BALLOTS[:3], {"A": 3, "B": 3, "C": -3, "D": 3}]
    world = _round(app, allow_negative=True, ballots=against)
    text = _export(app, world.round_id)
    instance, profile = _parse(text, tmp_path)
    ids = world.proposals
    assert instance.meta["vote_type"] == "scoring" and instance.meta["min_points"] == "-10"
    assert {p.name: instance.project_meta[p]["score"] for p in instance} == {
        str(ids["A"]): "15", str(ids["B"]): "16", str(ids["C"]): "7", str(ids["D"]): "15"
    }  # fmt: skip
    assert _votes_section(text)[-1] == [
        str(world.voter_ids[3]), f"{ids['A']},{ids['B']},{ids['D']},{ids['C']}", "3,3,3,-3"
    ]  # fmt: skip
    assert {p.name for p in instance if instance.project_meta[p]["selected"] == "1"} == {
        str(ids["A"]), str(ids["B"]), str(ids["D"])
    }  # fmt: skip


def test_an_empty_ballot_is_not_listed_but_counted_in_the_comment(app: Flask, tmp_path: Path) -> None:
    world = _round(app, ballots=[*WORKED_BALLOTS[:3], {}])
    text = _export(app, world.round_id)
    assert "None" not in text
    instance, profile = _parse(text, tmp_path)
    assert profile.num_ballots() == 3 and instance.meta["num_votes"] == "3"
    assert str(world.voter_ids[3]) not in {ballot.meta["voter_id"] for ballot in profile}
    assert "4 circle members had to vote and 4 did" in instance.meta["comment"]
    assert "1 ballot gave no points and is not listed in VOTES" in instance.meta["comment"]


def test_a_round_without_quorum_exports_as_a_custom_rule_the_checker_accepts(app: Flask, tmp_path: Path) -> None:
    world = _round(app, ballots=WORKED_BALLOTS[:1], quorum_percent=50)
    instance, _ = _parse(_export(app, world.round_id), tmp_path)
    assert instance.meta["rule"] == "greedy-custom"
    assert {instance.project_meta[p]["selected"] for p in instance} == {"0"}


def test_formula_like_titles_go_out_escaped(app: Flask, tmp_path: Path) -> None:
    titles = {"A": "=HYPERLINK(1)", "B": "+Seeds", "C": "-Tools", "D": "@Hall"}
    world = _round(app, titles=titles, secret_ballot=True)
    instance, _ = _parse(_export(app, world.round_id), tmp_path)
    assert sorted(instance.project_meta[p]["name"] for p in instance) == sorted("'" + t for t in titles.values())


def test_a_round_that_allowed_votes_against_but_got_none_is_exported(app: Flask, tmp_path: Path) -> None:
    world = _round(app, allow_negative=True)
    instance, _ = _parse(_export(app, world.round_id), tmp_path)
    assert "Votes against a project were allowed, and none was cast." in instance.meta["comment"]


# --- the route (GET /api/v1/rounds/{id}/results.pb) -------------------------------------------------------------


def _get(app: Flask, round_id: int, token: str | None = None) -> Any:
    client: Client = app.test_client()  # type: ignore[assignment]
    return client.json_call("GET", f"/api/v1/rounds/{round_id}/results.pb", token=token)


def test_the_route_answers_409_in_the_error_shape_before_the_round_is_decided(app: Flask) -> None:
    world = _round(app, decide=False)
    response = _get(app, world.round_id, world.member_token)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict" and "no result yet" in error["message"] and error["fields"] == {}


def test_visitors_fetch_a_public_circles_export_as_a_pb_file(app: Flask, tmp_path: Path) -> None:
    world = _round(app, public=True)
    response = _get(app, world.round_id)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert f'filename="round-{world.round_id}.pb"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text == _export(app, world.round_id)
    instance, profile = _parse(text, tmp_path)
    assert len(instance) == 4 and profile.num_ballots() == 4


def test_a_private_circles_export_is_for_its_members_only(app: Flask) -> None:
    world = _round(app, public=False)
    assert _get(app, world.round_id).status_code == 401
    assert _get(app, world.round_id, world.outsider_token).status_code == 404
    member = _get(app, world.round_id, world.member_token)
    assert member.status_code == 200 and member.get_data(as_text=True).startswith("META\nkey;value\n")
    assert _get(app, 999_999, world.member_token).status_code == 404


def test_the_export_reads_back_through_the_pabulib_reader(app: Flask) -> None:
    world = _round(app)
    read = parse_pabulib_file(_export(app, world.round_id))
    ids = world.proposals
    assert {p.project_id: p.cost for p in read.projects} == {str(ids[n]): a // 100 for n, a in AMOUNTS.items()}
    assert {v.voter_id: v.points_by_project() for v in read.votes} == {
        str(user_id): {str(ids[n]): v for n, v in votes.items()}
        for user_id, votes in zip(world.voter_ids, WORKED_BALLOTS, strict=True)
    }
