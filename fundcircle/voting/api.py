"""The voting's part of the JSON API: quadratic, approval and cumulative ballots, and every round's results and
their exports."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_login import current_user

from fundcircle.access import circle_role, requires
from fundcircle.db import utcnow
from fundcircle.openapi import ANYONE_IF_PUBLIC, api_blueprint
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import get_round
from fundcircle.voting import services
from fundcircle.voting.pabulib_export import export_pabulib
from fundcircle.voting.replay import Replay
from fundcircle.voting.schemas import BallotInSchema, BallotOutSchema, ReplaySchema, ResultsSchema
from fundcircle.voting.views import results_csv_text

blp = api_blueprint("voting", __name__, "Quadratic, approval and cumulative ballots, and the results of every round")


@blp.route("/rounds/<int:round_id>/ballot", methods=["GET"])
@requires(circle_role("circle"))
@blp.response(200, BallotOutSchema)
def get_ballot(round_id: int) -> Round:
    """Your ballot in a voting round (empty before you save one)."""
    return get_round(round_id)


@blp.route("/rounds/<int:round_id>/ballot", methods=["PUT"])
@requires(circle_role("circle"))
@blp.arguments(BallotInSchema)
@blp.response(200, BallotOutSchema)
def put_ballot(data: dict[str, Any], round_id: int) -> Round:
    """Replace your ballot whole. A ballot over your credits or points, or with more approvals than the round
    allows, is refused whole, saying by how much."""
    round_ = get_round(round_id)
    services.cast_ballot(current_user, round_, {int(key): count for key, count in data["votes"].items()}, utcnow())
    return round_


@blp.route("/rounds/<int:round_id>/results", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(200, ResultsSchema)
def get_results(round_id: int) -> Round:
    """The stored result: per proposal its score, amount, whether it is funded and why. Empty until decided."""
    return get_round(round_id)


@blp.route("/rounds/<int:round_id>/results.csv", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(200, content_type="text/csv", description="One row per proposal, in the order the budget was walked")
def get_results_csv(round_id: int) -> Response:
    """The result as CSV."""
    return Response(results_csv_text(round_id), mimetype="text/csv")


@blp.route("/rounds/<int:round_id>/results.pb", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(
    200,
    content_type="text/plain",
    description="The round in the Pabulib format (pabulib.org/format): META with the spec's `vote_type` and `rule` "
    "for the round's ballots and allocation rule (greedy-threshold, equalshares/add1, or unknown when equal "
    "shares' completion funded a project), PROJECTS with cost, votes, score (not for approval ballots) and "
    "selected, and VOTES as approvals, or as cumulative points (scoring points, negative for votes against, when "
    "the round allowed them), by decreasing points; ballots with no points are not listed; a secret ballot's "
    "voters are anonymous labels",
)
def get_results_pabulib(round_id: int) -> Response:
    """A decided voting round as a Pabulib `.pb` file.

    For researchers' tools (pabutools) to read the round and recompute its outcome; the official pabulib-checker
    accepts it. 409 before the round is decided and for a consent round.
    """
    text = export_pabulib(get_round(round_id))
    return Response(
        text,
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="round-{round_id}.pb"'},
    )


@blp.route("/rounds/<int:round_id>/replay", methods=["GET"])
@requires(circle_role())
@blp.response(200, ReplaySchema)
def get_replay(round_id: int) -> Replay:
    """What every allocation rule would fund with a decided voting round's ballots: a replay, never a decision
    (nothing is funded, paid or recorded). 409 for a consent round or one not decided yet."""
    return services.replay_of_round(get_round(round_id))
