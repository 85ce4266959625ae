"""Each ballot type (quadratic, approval, cumulative) with each allocation rule (greedy by score, the method of
equal shares) decides a round end to end, once through the pages and once through the JSON API.

The same three voters vote alike in every round: two support proposals A (600.00) and B (400.00) equally, the
third supports C (400.00) a little less. Greedy by score funds the two best-supported, A and B, and C gets nothing;
equal shares gives each voter a third of the 1,000.00 budget, so the third voter's share pays for C and the two
others' shares cannot pay for both A and B: it funds B and C. Every proposal's explanation says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot, ProposalResult
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_token, make_user
from tests.pabulib_checker import assert_checker_accepts

API = "/api/v1"

#: The votes of each voter, by proposal letter, per ballot type: alike in spirit (who supports what, how much).
VOTES = {
    "quadratic": [{"A": 5, "B": 5}, {"A": 5, "B": 5}, {"C": 4}],
    "approval": [{"A": 1, "B": 1}, {"A": 1, "B": 1}, {"C": 1}],
    "cumulative": [{"A": 5, "B": 5}, {"A": 5, "B": 5}, {"C": 8}],
}
FUNDED = {"greedy": {"A", "B"}, "equal_shares": {"B", "C"}}
AMOUNTS = {"A": 60_000, "B": 40_000, "C": 40_000}


@dataclass(frozen=True)
class World:
    circle_id: int
    admin_email: str
    admin_token: str
    voter_emails: list[str]
    voter_tokens: list[str]


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ada Admin", superuser=True)
        circle = make_circle(admin, name="Riverside", slug="riverside")
        voters = [make_user(name=f"Voter {n}") for n in (1, 2, 3)]
        for voter in voters:
            add_member(circle, voter, ["member", "circle"], by=admin)
        return World(
            circle.id,
            admin.email,
            make_token(admin),
            [voter.email for voter in voters],
            [make_token(voter) for voter in voters],
        )


def _settings(method: str, rule: str) -> dict[str, Any]:
    return {
        "title": f"{method} by {rule}",
        "budget_minor": 100_000,
        "per_proposal_cap_minor": 100_000,
        "method": method,
        "allocation_rule": rule,
        "credits": 100 if method == "quadratic" else 10,
        "quorum_percent": 50,
        "max_approvals": 2 if method == "approval" else None,
    }


def _create_round_through_pages(client: Client, world: World, method: str, rule: str) -> int:
    settings = _settings(method, rule)
    form = {
        "title": settings["title"],
        "budget": "1000.00",
        "per_proposal_cap": "1000.00",
        "method": method,
        "allocation_rule": rule,
        "credits": str(settings["credits"]),
        "max_approvals": "2" if method == "approval" else "",
        "quorum_percent": "50",
        "consent_rules": "sociocratic",
        "max_proposals_per_member": "3",
    }
    response = client.post_form(f"/circles/{world.circle_id}/rounds/new", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _add_proposals(app: Flask, round_id: int, world: World) -> dict[str, int]:
    """Three proposals by the admin, submitted in the order A, B, C (the proposals area's own flow)."""
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        from fundcircle.auth.models import User

        admin = db.session.scalars(select(User).where(User.email == world.admin_email)).one()
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        ids = {}
        for letter, amount in AMOUNTS.items():
            ids[letter] = make_proposal(
                round_, admin, title=f"Proposal {letter}", amount_minor=amount, category=None
            ).id
        return ids


def _results_by_letter(payload: dict[str, Any], ids: dict[str, int]) -> dict[str, dict[str, Any]]:
    letters = {pid: letter for letter, pid in ids.items()}
    return {letters[row["proposal_id"]]: row for row in payload["proposals"]}


def _check_result(
    app: Flask, client: Client, world: World, round_id: int, ids: dict[str, int], method: str, rule: str
) -> None:
    results = client.json_call("GET", f"{API}/rounds/{round_id}/results", token=world.admin_token).get_json()
    assert results["decided"] is True and results["allocation_rule"] == rule and results["method"] == method
    by_letter = _results_by_letter(results, ids)
    assert {letter for letter, row in by_letter.items() if row["funded"]} == FUNDED[rule]
    if rule == "equal_shares":
        assert by_letter["B"]["reason"].startswith("funded: 2 supporters each paid 200.00")
        assert by_letter["A"]["reason"].startswith("not funded: its supporters had")
        assert "of the 600.00 EUR it needs" in by_letter["A"]["reason"]
    else:
        assert by_letter["C"]["reason"].startswith("skipped: needs 400.00 EUR")
    exported = client.json_call("GET", f"{API}/rounds/{round_id}/results.pb", token=world.admin_token)
    assert exported.status_code == 200
    _check_export(exported.get_data(as_text=True), method, rule)
    client.login(world.admin_email)
    page = client.get(f"/rounds/{round_id}/results").get_data(as_text=True)
    for row in by_letter.values():
        assert row["reason"] in page.replace("&#39;", "'")
    assert ("method of equal shares" in page) == (rule == "equal_shares")
    with app.app_context():
        actions = list(db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))
        assert actions.count("ballot.cast") == 3
        published = db.session.scalars(
            select(LedgerEntry.data).where(LedgerEntry.action == "round.result_published")
        ).one()
        assert published["allocation_rule"] == rule and published["method"] == method
        stored = db.session.scalars(select(ProposalResult).where(ProposalResult.round_id == round_id)).all()
        assert {r.proposal_id for r in stored if r.funded} == {ids[letter] for letter in FUNDED[rule]}


def _check_export(text: str, method: str, rule: str) -> None:
    """The round's Pabulib file has the spec's keys for its ballot type and rule, and the official checker accepts
    it (for approval ballots under equal shares, the checker recomputes the outcome itself)."""
    warnings = assert_checker_accepts(text)
    meta = dict(line.split(";", 1) for line in text.split("PROJECTS")[0].splitlines()[2:])
    assert meta["vote_type"] == ("approval" if method == "approval" else "cumulative")
    assert meta["rule"] == ("equalshares/add1" if rule == "equal_shares" else "greedy-threshold")
    if method == "approval":
        assert meta["max_length"] == "2" and "max_points" not in meta
        assert "voter_id;vote\n" in text
    else:
        assert meta["max_sum_points"] == ("17" if method == "quadratic" else "10")  # 6, 6 and 5 votes cost 97
    assert not any("rule not followed" in kind for kind in warnings), warnings


@pytest.mark.parametrize("rule", ["greedy", "equal_shares"])
@pytest.mark.parametrize("method", ["quadratic", "approval", "cumulative"])
def test_each_rule_decides_a_round_through_the_pages(
    app: Flask, client: Client, world: World, method: str, rule: str
) -> None:
    client.login(world.admin_email)
    round_id = _create_round_through_pages(client, world, method, rule)
    settings_page = client.get(f"/rounds/{round_id}").get_data(as_text=True)
    assert ("the method of equal shares" in settings_page) == (rule == "equal_shares")
    ids = _add_proposals(app, round_id, world)
    for phase in ("deliberation", "deciding"):
        assert client.post_form(f"/rounds/{round_id}/advance", {"to": phase}).status_code == 302
    client.post_form("/logout")
    for email, votes in zip(world.voter_emails, VOTES[method], strict=True):
        voter = app.test_client()
        assert isinstance(voter, Client)
        voter.login(email)
        ballot = voter.get(f"/rounds/{round_id}/ballot").get_data(as_text=True)
        if method == "approval":
            assert 'type="checkbox"' in ballot and "at most <strong>2</strong>" in ballot
            form = {f"approve-{ids[letter]}": "1" for letter in votes}
        else:
            assert ("10 points" in ballot) == (method == "cumulative")
            form = {f"votes-{ids[letter]}": str(count) for letter, count in votes.items()}
        saved = voter.post_form(f"/rounds/{round_id}/ballot", {**form, "action": "save"})
        assert saved.status_code == 302, saved.get_data(as_text=True)
        again = voter.get(f"/rounds/{round_id}/ballot").get_data(as_text=True)
        assert "Your ballot is saved" in again
    client.login(world.admin_email)
    assert client.post_form(f"/rounds/{round_id}/advance", {"to": "decided"}).status_code == 302
    _check_result(app, client, world, round_id, ids, method, rule)


@pytest.mark.parametrize("rule", ["greedy", "equal_shares"])
@pytest.mark.parametrize("method", ["quadratic", "approval", "cumulative"])
def test_each_rule_decides_a_round_through_the_api(
    app: Flask, client: Client, world: World, method: str, rule: str
) -> None:
    created = client.json_call(
        "POST", f"{API}/circles/{world.circle_id}/rounds", _settings(method, rule), token=world.admin_token
    )
    assert created.status_code == 201, created.get_json()
    round_ = created.get_json()
    assert (round_["method"], round_["allocation_rule"]) == (method, rule)
    assert round_["max_approvals"] == (2 if method == "approval" else None)
    round_id = round_["id"]
    ids = _add_proposals(app, round_id, world)
    for phase in ("deliberation", "deciding"):
        moved = client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": phase}, token=world.admin_token)
        assert moved.status_code == 200
    for token, votes in zip(world.voter_tokens, VOTES[method], strict=True):
        body = {"votes": {str(ids[letter]): count for letter, count in votes.items()}}
        saved = client.json_call("PUT", f"{API}/rounds/{round_id}/ballot", body, token=token)
        assert saved.status_code == 200, saved.get_json()
        assert saved.get_json()["method"] == method
    decided = client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": "decided"}, token=world.admin_token)
    assert decided.status_code == 200
    _check_result(app, client, world, round_id, ids, method, rule)


def test_ballots_the_round_type_refuses_are_refused_whole_saying_why(app: Flask, client: Client, world: World) -> None:
    """Too many approvals, an approval that is not 1, points over the total: 422, nothing stored."""
    made = {}
    for method in ("approval", "cumulative"):
        response = client.json_call(
            "POST",
            f"{API}/circles/{world.circle_id}/rounds",
            _settings(method, "equal_shares"),
            token=world.admin_token,
        )
        made[method] = response.get_json()["id"]
    ids = {method: _add_proposals(app, round_id, world) for method, round_id in made.items()}
    for round_id in made.values():
        for phase in ("deliberation", "deciding"):
            client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": phase}, token=world.admin_token)
    token = world.voter_tokens[0]
    approval, cumulative = made["approval"], made["cumulative"]
    three = {"votes": {str(pid): 1 for pid in ids["approval"].values()}}
    too_many = client.json_call("PUT", f"{API}/rounds/{approval}/ballot", three, token=token)
    assert too_many.status_code == 422
    assert "approves 3 proposals, 1 more than the 2 this round allows" in str(too_many.get_json())
    two = client.json_call(
        "PUT", f"{API}/rounds/{approval}/ballot", {"votes": {str(ids["approval"]["A"]): 2}}, token=token
    )
    assert two.status_code == 422 and "An approval is 1 (approve) or 0" in str(two.get_json())
    over = client.json_call(
        "PUT", f"{API}/rounds/{cumulative}/ballot", {"votes": {str(ids["cumulative"]["A"]): 11}}, token=token
    )
    assert over.status_code == 422 and "spreads 11 points, 1 more than your 10" in str(over.get_json())
    with app.app_context():
        assert db.session.scalars(select(Ballot)).all() == []


def test_the_allocation_rule_is_fixed_once_the_round_is_deciding(app: Flask, client: Client, world: World) -> None:
    created = client.json_call(
        "POST", f"{API}/circles/{world.circle_id}/rounds", _settings("approval", "greedy"), token=world.admin_token
    ).get_json()
    round_id = created["id"]
    changed = client.json_call(
        "PATCH", f"{API}/rounds/{round_id}", {"allocation_rule": "equal_shares"}, token=world.admin_token
    )
    assert changed.status_code == 200 and changed.get_json()["allocation_rule"] == "equal_shares"
    _add_proposals(app, round_id, world)
    for phase in ("deliberation", "deciding"):
        client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": phase}, token=world.admin_token)
    refused = client.json_call(
        "PATCH", f"{API}/rounds/{round_id}", {"allocation_rule": "greedy"}, token=world.admin_token
    )
    assert refused.status_code == 422
    assert "fixed once the round is deciding" in str(refused.get_json())
    unknown = client.json_call(
        "PATCH", f"{API}/rounds/{round_id}", {"allocation_rule": "lottery"}, token=world.admin_token
    )
    assert unknown.status_code == 422 and "allocation_rule" in str(unknown.get_json())
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and round_.allocation_rule == "equal_shares"


def test_the_round_form_offers_ballot_type_and_rule_each_explained(app: Flask, client: Client, world: World) -> None:
    client.login(world.admin_email)
    page = client.get(f"/circles/{world.circle_id}/rounds/new").get_data(as_text=True)
    for sentence in (
        "Approval voting: each circle member ticks every proposal they support",
        "Cumulative voting: each circle member spreads points, one point costing one",
        "Greedy by score: the most supported proposals are funded in turn while the budget lasts",
        "Equal shares: each voter holds an equal share of the budget",
    ):
        assert sentence in page
    assert 'class="for-approval"' in page and 'class="for-consent"' in page
    bad = client.post_form(
        f"/circles/{world.circle_id}/rounds/new",
        {"title": "X", "budget": "10", "per_proposal_cap": "5", "method": "approval", "allocation_rule": "lottery",
         "credits": "10", "quorum_percent": "50", "consent_rules": "sociocratic", "max_proposals_per_member": "3",
         "max_approvals": "0"},
    )  # fmt: skip
    assert bad.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Round)).all() == []


# --- replays: another rule on a past round, or a Pabulib file ---------------------------------------------------

#: Written by hand in the spec's format (pabulib.org/format): the same ballots as VOTES["approval"].
HAND_WRITTEN_PB = """META
key;value
description;Riverside's spring ballots, by hand
country;Worldwide
unit;Riverside
instance;2026
num_projects;3
num_votes;3
budget;1000
vote_type;approval
rule;greedy
currency;EUR
date_begin;01.03.2026
date_end;31.03.2026
PROJECTS
project_id;cost;votes;name
a;600;2;Tool library
b;400;2;Seed library
c;400;1;Language evenings
VOTES
voter_id;vote
v1;a,b
v2;a,b
v3;c
"""


def _state(app: Flask) -> tuple[int, int, int]:
    """The ledger's length, the stored results and the payouts: a replay changes none of them."""
    from fundcircle.payouts.models import Payout

    with app.app_context():
        return (
            len(db.session.scalars(select(LedgerEntry.id)).all()),
            len(db.session.scalars(select(ProposalResult.proposal_id)).all()),
            len(db.session.scalars(select(Payout.id)).all()),
        )


def _decided_through_api(
    app: Flask, client: Client, world: World, method: str, rule: str
) -> tuple[int, dict[str, int]]:
    round_id = client.json_call(
        "POST", f"{API}/circles/{world.circle_id}/rounds", _settings(method, rule), token=world.admin_token
    ).get_json()["id"]
    ids = _add_proposals(app, round_id, world)
    for phase in ("deliberation", "deciding"):
        client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": phase}, token=world.admin_token)
    for token, votes in zip(world.voter_tokens, VOTES[method], strict=True):
        body = {"votes": {str(ids[letter]): count for letter, count in votes.items()}}
        assert client.json_call("PUT", f"{API}/rounds/{round_id}/ballot", body, token=token).status_code == 200
    client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": "decided"}, token=world.admin_token)
    return round_id, ids


def test_a_decided_round_replays_under_the_other_rule_and_nothing_changes(
    app: Flask, client: Client, world: World
) -> None:
    round_id, ids = _decided_through_api(app, client, world, "approval", "greedy")
    before = _state(app)
    replay = client.json_call("GET", f"{API}/rounds/{round_id}/replay", token=world.voter_tokens[2])
    assert replay.status_code == 200
    payload = replay.get_json()
    assert payload["replay"] is True and payload["ballot_type"] == "approval" and payload["ballots_cast"] == 3
    letters = {pid: letter for letter, pid in ids.items()}
    for by_rule in payload["rules"]:
        funded = {letters[o["proposal_id"]] for o in by_rule["outcomes"] if o["funded"]}
        assert funded == FUNDED[by_rule["rule"]]
    client.login(world.voter_emails[2])
    results = client.get(f"/rounds/{round_id}/results").get_data(as_text=True)
    assert f"/rounds/{round_id}/replay" in results
    page = client.get(f"/rounds/{round_id}/replay").get_data(as_text=True)
    assert "A replay, not a decision." in page and "stays as it is" in page
    assert "funded: 2 supporters each paid 200.00" in page and "skipped: needs 400.00 EUR" in page
    assert _state(app) == before
    stored = client.json_call("GET", f"{API}/rounds/{round_id}/results", token=world.admin_token).get_json()
    assert {letters[r["proposal_id"]] for r in stored["proposals"] if r["funded"]} == FUNDED["greedy"]


def test_a_round_that_is_not_decided_has_no_replay(app: Flask, client: Client, world: World) -> None:
    round_id = client.json_call(
        "POST", f"{API}/circles/{world.circle_id}/rounds", _settings("cumulative", "greedy"), token=world.admin_token
    ).get_json()["id"]
    refused = client.json_call("GET", f"{API}/rounds/{round_id}/replay", token=world.admin_token)
    assert refused.status_code == 409 and "not decided yet" in str(refused.get_json())


def test_an_admin_replays_a_hand_written_pabulib_file_and_nothing_is_stored(
    app: Flask, client: Client, world: World
) -> None:
    import io

    before = _state(app)
    client.login(world.admin_email)
    form = client.get(f"/circles/{world.circle_id}/replay").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and "A replay, not a decision." in form
    response = client.post_form(
        f"/circles/{world.circle_id}/replay",
        {"file": (io.BytesIO(HAND_WRITTEN_PB.encode()), "spring.pb")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "Riverside&#39;s spring ballots, by hand" in page and "3 ballots (approval)" in page
    greedy, shares = page.split('id="rule-equal_shares"')
    assert "Would fund 1,000.00 EUR" in greedy and "Language evenings" in greedy
    assert "funded: 2 supporters each paid 200.00" in shares and "Would fund 800.00 EUR" in shares
    assert _state(app) == before


def test_a_file_exported_by_a_round_replays_to_the_round_s_own_outcome(
    app: Flask, client: Client, world: World
) -> None:
    import io

    round_id, _ = _decided_through_api(app, client, world, "cumulative", "equal_shares")
    exported = client.json_call("GET", f"{API}/rounds/{round_id}/results.pb", token=world.admin_token)
    client.login(world.admin_email)
    response = client.post_form(
        f"/circles/{world.circle_id}/replay",
        {"file": (io.BytesIO(exported.get_data()), "round.pb")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    greedy, shares = page.split('id="rule-equal_shares"')
    assert "Would fund 1,000.00 EUR" in greedy and "Would fund 800.00 EUR" in shares
    assert "funded: 2 supporters each paid 200.00" in shares


def test_a_file_that_cannot_be_replayed_is_refused_saying_where(app: Flask, client: Client, world: World) -> None:
    import io

    client.login(world.admin_email)
    broken = HAND_WRITTEN_PB.replace("b;400;2;Seed library", "b;four hundred;2;Seed library")
    response = client.post_form(
        f"/circles/{world.circle_id}/replay",
        {"file": (io.BytesIO(broken.encode()), "broken.pb")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "The file cannot be replayed: Line 18: project b" in response.get_data(as_text=True)
    ordinal = HAND_WRITTEN_PB.replace("vote_type;approval", "vote_type;ordinal")
    refused = client.post_form(
        f"/circles/{world.circle_id}/replay",
        {"file": (io.BytesIO(ordinal.encode()), "ordinal.pb")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "vote_type is ordinal" in refused.get_data(as_text=True)
    none = client.post_form(f"/circles/{world.circle_id}/replay", {})
    assert none.status_code == 422 and "Choose a Pabulib (.pb) file" in none.get_data(as_text=True)
    voter = app.test_client()
    assert isinstance(voter, Client)
    voter.login(world.voter_emails[0])
    assert voter.get(f"/circles/{world.circle_id}/replay").status_code == 403


def test_the_openapi_document_lists_the_replay_and_the_new_settings(client: Client) -> None:
    document = client.get(f"{API}/openapi.json").get_json()
    assert "get" in document["paths"]["/api/v1/rounds/{round_id}/replay"]
    schemas = document["components"]["schemas"]
    create = next(schema for name, schema in schemas.items() if name.startswith("RoundCreate"))
    assert set(create["properties"]["method"]["enum"]) == {"quadratic", "approval", "cumulative", "consent"}
    assert set(create["properties"]["allocation_rule"]["enum"]) == {"greedy", "equal_shares"}
    assert "max_approvals" in create["properties"]
    results = next(schema for name, schema in schemas.items() if name.startswith("Results"))
    assert "allocation_rule" in results["properties"]
