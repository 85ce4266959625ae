"""API operations for the ledger: reading a circle's chain page by page, and verifying chains."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_login import current_user

from fundcircle.access import SIGNED_IN, circle_role, requires
from fundcircle.api.views import ANYONE_IF_PUBLIC, blp
from fundcircle.circles.services import circles_of, get_circle, membership_of, public_circles
from fundcircle.errors import NotFound
from fundcircle.ledger.schemas import LedgerPageSchema, LedgerQuerySchema, VerifyQuerySchema, VerifySchema
from fundcircle.ledger.services import LedgerFilter, ledger_page, verify_ledger


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
    return {
        "items": [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor_id,
                "actor_name": e.actor_name,
                "action": e.action,
                "subject": {"type": e.subject_type, "id": e.subject_id},
                "data": e.data,
                "words": e.words,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in entries
        ],
        "next_after": next_after,
    }


@blp.route("/ledger/verify", methods=["GET"])
@requires(SIGNED_IN)
@blp.arguments(VerifyQuerySchema, location="query")
@blp.response(200, VerifySchema)
def verify(query: dict[str, Any]) -> dict[str, Any]:
    """Recompute the chain of one circle you can see (`circle_id`), or of every circle you can see, and say where
    a chain breaks."""
    circle_id = query["circle_id"]
    if circle_id is not None:
        circle = get_circle(circle_id)
        if not circle.public and membership_of(current_user, circle) is None:
            raise NotFound("There is no such circle.")
        reports = verify_ledger([circle.id], include_site=False)
    else:
        # Every chain the caller may see: public circles and their own (and the site's, for superusers).
        visible = {circle.id for circle in public_circles()} | {circle.id for circle, _ in circles_of(current_user)}
        reports = verify_ledger(visible, include_site=current_user.is_superuser)
    chains = [
        {
            "chain": report.label,
            "circle_id": report.circle_id,
            "ok": report.result.ok,
            "count": report.result.count,
            "head": report.result.head,
            "bad_seq": report.result.bad_seq,
            "problem": report.result.problem,
        }
        for report in reports
    ]
    return {
        "ok": all(chain["ok"] for chain in chains),
        "count": sum(chain["count"] for chain in chains),
        "head": chains[0]["head"] if len(chains) == 1 else None,
        "chains": chains,
    }
