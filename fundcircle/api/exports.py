"""API exports of a round's result in formats other tools read. Registered by `init_api` with the other operations."""

from __future__ import annotations

from flask import Response

from fundcircle.access import circle_role, requires
from fundcircle.api.views import ANYONE_IF_PUBLIC, blp
from fundcircle.rounds.services import get_round
from fundcircle.voting.pabulib_export import export_pabulib


@blp.route("/rounds/<int:round_id>/results.pb", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(
    200,
    content_type="text/plain",
    description="The round in the Pabulib format (pabulib.org/format): META, PROJECTS with cost, votes, score and "
    "selected, and VOTES as cumulative points; a secret ballot's voters are anonymous labels",
)
def get_results_pabulib(round_id: int) -> Response:
    """A decided quadratic round as a Pabulib `.pb` file.

    For researchers' tools (pabutools) to read the round and recompute its outcome. 409 before the round is
    decided, for a consent round, and for a round with votes against a proposal, which the format's cumulative
    points cannot hold.
    """
    text = export_pabulib(get_round(round_id))
    return Response(
        text,
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="round-{round_id}.pb"'},
    )
