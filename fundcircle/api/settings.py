"""API operations for settings and the signed-in person's own things: circle and round settings, the member list,
API tokens and e-mail notices. Same services as the pages."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_login import current_user

from fundcircle.access import ANY_MEMBER, SIGNED_IN, circle_role, requires
from fundcircle.api.views import ROUND_FIELDS_IN_API, blp, circle_out, member_out, renamed_fields, round_out
from fundcircle.auth import services as auth_services
from fundcircle.auth.models import ApiToken
from fundcircle.auth.schemas import NewTokenSchema, NoticesSchema, TokenCreateSchema, TokenListSchema, TokenSchema
from fundcircle.circles import services as circle_services
from fundcircle.circles.schemas import CircleSchema, CircleSettingsSchema, MemberListSchema, MemberSchema
from fundcircle.db import utcnow
from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.proposals.schemas import PageQuerySchema
from fundcircle.rounds import services as round_services
from fundcircle.rounds.schemas import RoundPatchSchema, RoundSchema


@blp.route("/circles/<int:circle_id>", methods=["PATCH"])
@requires(circle_role("admin"))
@blp.arguments(CircleSettingsSchema)
@blp.response(200, CircleSchema)
def update_circle(data: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """Change the circle's name, description or visibility (admins)."""
    circle = g.circle
    circle_services.update_circle_settings(
        current_user,
        circle,
        name=data.get("name", circle.name),
        description=data.get("description", circle.description),
        public=data.get("public", circle.public),
        approvals_required=data.get("approvals_required"),
        two_approvals_from_minor=data.get("two_approvals_from_minor", circle_services.KEEP),
    )
    db.session.commit()
    return circle_out(circle, g.membership)


@blp.route("/circles/<int:circle_id>/members", methods=["GET"])
@requires(ANY_MEMBER)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, MemberListSchema)
def list_members(query: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """The circle's members and their roles (members only), in user id order, a page at a time."""
    members = circle_services.members_page(g.circle, after=query["after"], limit=query["limit"])
    return {
        "items": [member_out(m) for m in members],
        "next_after": members[-1].user_id if len(members) == query["limit"] else None,
    }


@blp.route("/rounds/<int:round_id>", methods=["PATCH"])
@requires(circle_role("admin"))
@blp.arguments(RoundPatchSchema)
@blp.response(200, RoundSchema)
def update_round(data: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Change a round's settings as far as its phase allows (admins); settings not given keep their value."""
    round_ = round_services.get_round(round_id)
    deadlines = data.pop("deadlines", {})
    current = {name: getattr(round_, name) for name in round_services.RoundInput.__dataclass_fields__}
    current.update(data)
    for api_name, field in (("proposals", "proposals_close_at"), ("deliberation", "deliberation_close_at"),
                            ("deciding", "deciding_close_at")):  # fmt: skip
        if api_name in deadlines:
            current[field] = deadlines[api_name]
    try:
        round_services.update_round(current_user, round_, round_services.RoundInput(**current), now=utcnow())
    except ValidationFailed as error:
        raise renamed_fields(error, ROUND_FIELDS_IN_API) from None
    db.session.commit()
    return round_out(round_)


def _token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@blp.route("/me/tokens", methods=["GET"])
@requires(SIGNED_IN)
@blp.response(200, TokenListSchema)
def list_tokens() -> dict[str, Any]:
    """Your API tokens, with when each was last used."""
    return {"items": [_token_out(token) for token in auth_services.list_api_tokens(current_user)]}


@blp.route("/me/tokens", methods=["POST"])
@requires(SIGNED_IN)
@blp.arguments(TokenCreateSchema)
@blp.response(201, NewTokenSchema)
def create_token(data: dict[str, Any]) -> dict[str, Any]:
    """Create a personal API token; the token is in this answer and never again."""
    api_token, token = auth_services.create_api_token(current_user, data["name"])
    db.session.commit()
    return {**_token_out(api_token), "token": token}


@blp.route("/me/tokens/<int:token_id>", methods=["DELETE"])
@requires(SIGNED_IN)
@blp.response(200, TokenSchema)
def revoke_token(token_id: int) -> dict[str, Any]:
    """Revoke one of your tokens; it stops working at once."""
    api_token = auth_services.revoke_api_token(current_user, token_id, utcnow())
    db.session.commit()
    return _token_out(api_token)


@blp.route("/me/notices", methods=["PUT"])
@requires(SIGNED_IN)
@blp.arguments(NoticesSchema)
@blp.response(200, NoticesSchema)
def set_notices(data: dict[str, Any]) -> dict[str, Any]:
    """Turn your e-mail notices on or off."""
    auth_services.set_email_notices(current_user, data["email_notices"])
    db.session.commit()
    return {"email_notices": current_user.email_notices}


@blp.route("/invitations/<token>/accept", methods=["POST"])
@requires(SIGNED_IN)
@blp.response(200, MemberSchema)
def accept_invitation(token: str) -> dict[str, Any]:
    """Join a circle with an invitation made for your address (a newcomer signs up on the invitation's page)."""
    _, membership = circle_services.accept_invitation(token, user=current_user, now=utcnow())
    db.session.commit()
    result = member_out(membership)
    assert result is not None  # nosec B101  # type narrowing: accepting returns a membership
    return result
