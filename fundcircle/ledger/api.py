"""The ledger's part of the JSON API: reading a circle's chain and verifying the chains one may see."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import gettext
from flask_login import current_user

from fundcircle.access import SIGNED_IN, circle_role, requires
from fundcircle.circles.services import circles_of, get_circle, membership_of, public_circles
from fundcircle.db import utcnow
from fundcircle.errors import NotFound
from fundcircle.ledger.checkpoints import consistency_proof, inclusion_proof
from fundcircle.ledger.reading import ChainReport, LedgerFilter, ledger_page, verify_ledger
from fundcircle.ledger.schemas import (
    CheckpointSchema,
    ConsistencyProofSchema,
    ConsistencyQuerySchema,
    InclusionProofSchema,
    InclusionQuerySchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    VerifyQuerySchema,
    VerifySchema,
)
from fundcircle.ledger.signing import current_checkpoint, site_key
from fundcircle.openapi import ANYONE_IF_PUBLIC, api_blueprint

blp = api_blueprint("ledger", __name__, "The audit ledger: every circle's hash-chained entries, and their verification")


@blp.route("/circles/<int:circle_id>/ledger", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.arguments(LedgerQuerySchema, location="query")
@blp.response(200, LedgerPageSchema)
def read_ledger(query: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """A circle's chain, oldest first from `after` (keyset pagination by `seq`), filtered by action, actor or
    proposal. Public circles show it to everyone."""
    circle = g.circle
    entries, next_after = ledger_page(
        circle.id,
        circle.currency,
        after=query["after"] or 0,
        limit=query["limit"],
        filters=LedgerFilter(action=query["action"], actor_id=query["actor"], proposal_id=query["proposal"]),
    )
    return {"items": entries, "next_after": next_after}


@blp.route("/ledger/verify", methods=["GET"])
@requires(SIGNED_IN)
@blp.arguments(VerifyQuerySchema, location="query")
@blp.response(200, VerifySchema)
def verify(query: dict[str, Any]) -> list[ChainReport]:
    """Recompute the chain of one circle you can see (`circle_id`), or of every circle you can see, and say where
    a chain breaks."""
    circle_id = query["circle_id"]
    if circle_id is not None:
        circle = get_circle(circle_id)
        if not circle.public and membership_of(current_user, circle) is None:
            raise NotFound(gettext("There is no such circle."))
        return verify_ledger([circle.id], include_site=False)
    # Every chain the caller may see: public circles and their own (and the site's, for superusers).
    visible = {circle.id for circle in public_circles()} | {circle.id for circle, _ in circles_of(current_user)}
    return verify_ledger(visible, include_site=current_user.is_superuser)


@blp.route("/circles/<int:circle_id>/ledger/checkpoint", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(200, CheckpointSchema)
def read_checkpoint(circle_id: int) -> dict[str, Any]:
    """The signed checkpoint of the circle's log as it stands (the stored one of that size, or one signed now)."""
    checkpoint = current_checkpoint(g.circle.id, utcnow())
    return {
        "size": checkpoint.size,
        "root_hash": checkpoint.root_hash,
        "made_at": checkpoint.made_at,
        "reason": checkpoint.reason,
        "note": checkpoint.note,
        "verifier_key": site_key().verifier,
    }


@blp.route("/circles/<int:circle_id>/ledger/proof/inclusion", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.arguments(InclusionQuerySchema, location="query")
@blp.response(200, InclusionProofSchema)
def read_inclusion_proof(query: dict[str, Any], circle_id: int) -> dict[str, object]:
    """An RFC 9162 inclusion proof: entry `seq` is in the log of `size` entries (a checkpoint's size)."""
    return inclusion_proof(g.circle.id, query["seq"], query["size"])


@blp.route("/circles/<int:circle_id>/ledger/proof/consistency", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.arguments(ConsistencyQuerySchema, location="query")
@blp.response(200, ConsistencyProofSchema)
def read_consistency_proof(query: dict[str, Any], circle_id: int) -> dict[str, object]:
    """An RFC 9162 consistency proof: the log of `from` entries is a prefix of the log of `to` entries."""
    return consistency_proof(g.circle.id, query["from_"], query["to"])
