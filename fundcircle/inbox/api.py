"""The inbox's part of the JSON API: your notices, what is your turn, and marking notices read."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from fundcircle.access import SIGNED_IN, requires
from fundcircle.db import utcnow
from fundcircle.inbox import services
from fundcircle.inbox.notifications import unread_count
from fundcircle.inbox.schemas import MarkedSchema, MarkReadSchema, NotificationPageSchema, NotificationQuerySchema
from fundcircle.openapi import api_blueprint

blp = api_blueprint("inbox", __name__, "Your notices and what is your turn to do")


@blp.route("/me/notifications", methods=["GET"])
@requires(SIGNED_IN)
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationPageSchema)
def list_notifications(query: dict[str, Any]) -> dict[str, Any]:
    """Your notices, newest first (keyset paged by `before`), how many are unread, and what is your turn now."""
    limit = query["limit"]
    items = services.notifications_page(current_user, before=query.get("before"), limit=limit)
    return {
        "items": items,
        "next_before": items[-1].id if len(items) == limit else None,
        "unread": unread_count(current_user.id),
        "your_turn": services.your_turn(current_user, utcnow()),
    }


@blp.route("/me/notifications/read", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(MarkReadSchema)
@blp.response(200, MarkedSchema)
def mark_read(data: dict[str, Any]) -> dict[str, int]:
    """Mark some of your notices read (`ids`), or all of them (`all: true`)."""
    marked = services.mark_read(
        current_user, ids=data.get("ids"), everything=bool(data.get("all", False)), now=utcnow()
    )
    return {"marked": marked, "unread": unread_count(current_user.id)}
