"""The voting's part of the JSON API: quadratic, approval and cumulative ballots, and every round's results and
their exports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Response, g
from flask_login import current_user
from werkzeug.exceptions import UnprocessableEntity

from fundcircle.access import circle_role, enforce, requires
from fundcircle.auth.tokens import authenticate_bearer, authenticates_itself, bearer_token_hash
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


#: Who may save a ballot: a circle member with the role "circle". Enforced by `_saving_ballot` (which the access
#: tests check like every other route's policy) from the save's own first query.
BALLOT_SAVERS = circle_role("circle")


def _saving_ballot(view: Callable[..., Any]) -> Callable[..., Any]:
    """Enforce BALLOT_SAVERS for a ballot save, and authenticate its bearer token, from the one query the save reads
    everything with (`services.ballot_context`). Any answer but a save, and a body that cannot be read, go through
    the usual authentication and `enforce` first, so the save answers 401, 404 and 403 exactly as every route does
    and a body error never tells an outsider more than that."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except UnprocessableEntity:
            refused = _usual_access(kwargs)
            if refused is not None:
                return refused
            raise

    wrapper.access_policy = BALLOT_SAVERS  # type: ignore[attr-defined]
    return authenticates_itself(wrapper)


def _usual_access(view_args: dict[str, Any]) -> Any:
    """Authenticate as every other operation does and enforce the policy: the refusal to answer with, or None."""
    if "_login_user" not in g and bearer_token_hash() is not None:
        authenticate_bearer()
    return enforce(BALLOT_SAVERS, view_args)


@dataclass(frozen=True)
class SavedRound:
    """The round of a saved ballot, as the answer describes it (copied before the commit expires the round)."""

    id: int
    credits: int
    method: str


@blp.route("/rounds/<int:round_id>/ballot", methods=["PUT"])
@_saving_ballot
@blp.arguments(BallotInSchema)
@blp.response(200, BallotOutSchema)
def put_ballot(data: dict[str, Any], round_id: int) -> Any:
    """Replace your ballot whole. A ballot over your credits or points, or with more approvals than the round
    allows, is refused whole, saying by how much."""
    votes = {int(key): count for key, count in data["votes"].items()}
    named = [pid for pid, count in votes.items() if count != 0]
    token_hash = bearer_token_hash()
    if token_hash is not None:
        context = services.ballot_context(round_id, named, token_hash=token_hash)
    elif current_user.is_authenticated:
        context = services.ballot_context(round_id, named, user_id=current_user.id)
    else:
        context = None
    if context is None or not services.may_save(context):
        refused = _usual_access({"round_id": round_id})
        if refused is not None:
            return refused
        # Let through by the usual check (the circle has no ledger yet, say): the service says what is wrong.
        saved = services.cast_ballot(current_user, get_round(round_id), votes, utcnow())
        return {"round": get_round(round_id), "ballot": saved, "votes": saved.votes}
    g._login_user = context.user
    saved = services.save_ballot(context, votes, utcnow())
    round_ = context.round_
    return {"round": SavedRound(round_.id, round_.credits, round_.method), "ballot": saved, "votes": saved.votes}


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
