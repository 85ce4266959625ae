"""The JSON API: thin endpoints over the areas' services, described by /api/v1/openapi.json.

Each endpoint declares its access policy (`requires`), loads its input through a schema that rejects unknown
fields, calls one service, commits once, and dumps its output through a schema. Errors take the one shape
`{"error": {"code", "message", "fields"}}` (see fundcircle/errors.py).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, g, request
from flask_login import current_user
from flask_smorest import Api, Blueprint

from fundcircle.access import ANY_MEMBER, SIGNED_IN, SUPERUSER, circle_role, requires
from fundcircle.api.schemas import ErrorSchema
from fundcircle.auth.schemas import MeSchema
from fundcircle.circles import services as circle_services
from fundcircle.circles.models import Circle, Membership
from fundcircle.circles.schemas import (
    CircleCreateSchema,
    CircleSchema,
    MemberAddedSchema,
    MemberAddSchema,
    MemberRolesSchema,
    MemberUpdatedSchema,
)
from fundcircle.db import utcnow
from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.mail import external_url
from fundcircle.rounds import services as round_services
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import CANCELLED, COUNTING, next_phases
from fundcircle.rounds.schemas import AdvanceSchema, RoundCreateSchema, RoundSchema

BODY_METHODS = {"POST", "PUT", "PATCH"}
#: OpenAPI security of operations that public circles answer without a token.
ANYONE_IF_PUBLIC = [{}, {"bearerAuth": []}]


class FundCircleApi(Api):  # type: ignore[misc]
    """flask-smorest, documenting our error shape and leaving error handling to fundcircle.errors (which also
    serves the HTML pages)."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


blp = Blueprint("api", __name__, url_prefix="/api/v1", description="Fund Circle's JSON API")


@blp.before_request
def require_json_body() -> None:
    if request.method in BODY_METHODS and (request.content_length or request.headers.get("Transfer-Encoding")):
        if not request.is_json:
            abort(415)


# --- presenters: objects as the response schemas expect them -------------------------------------------------


def circle_out(circle: Circle, membership: Membership | None) -> dict[str, Any]:
    return {
        "id": circle.id,
        "name": circle.name,
        "slug": circle.slug,
        "description": circle.description,
        "currency": circle.currency,
        "public": circle.public,
        "approvals_required": circle.approvals_required,
        "two_approvals_from_minor": circle.two_approvals_from_minor,
        "created_at": circle.created_at,
        "my_roles": membership.sorted_roles() if membership is not None else [],
    }


def member_out(membership: Membership | None) -> dict[str, Any] | None:
    if membership is None:
        return None
    return {
        "user_id": membership.user_id,
        "name": membership.user.name,
        "email": membership.user.email,
        "roles": membership.sorted_roles(),
        "joined_at": membership.joined_at,
    }


def round_out(round_: Round) -> dict[str, Any]:
    out = {column: getattr(round_, column) for column in RoundSchema().fields if hasattr(round_, column)}
    effective = round_.phase_at(utcnow())
    out["effective_phase"] = effective
    # Moves go from the stored phase; once deciding has closed, the round can only be counted, not cancelled.
    out["next_phases"] = [to for to in next_phases(round_.phase) if not (effective == COUNTING and to == CANCELLED)]
    out["deadlines"] = {
        "proposals": round_.proposals_close_at,
        "deliberation": round_.deliberation_close_at,
        "deciding": round_.deciding_close_at,
    }
    return out


# --- the user -------------------------------------------------------------------------------------------------


@blp.route("/me", methods=["GET"])
@requires(SIGNED_IN)
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """The signed-in user, their circles and their roles in each."""
    return {
        "id": current_user.id,
        "email": current_user.email,
        "name": current_user.name,
        "is_superuser": current_user.is_superuser,
        "created_at": current_user.created_at,
        "circles": [
            {**circle_out(circle, membership), "roles": membership.sorted_roles()}
            for circle, membership in circle_services.circles_of(current_user)
        ],
    }


# --- circles and members ----------------------------------------------------------------------------------------


@blp.route("/circles", methods=["POST"])
@requires(SUPERUSER)
@blp.arguments(CircleCreateSchema)
@blp.response(201, CircleSchema)
def create_circle(data: dict[str, Any]) -> dict[str, Any]:
    """Create a circle (superusers only); its creator becomes its admin."""
    circle = circle_services.create_circle(current_user, circle_services.CircleInput(**data))
    db.session.commit()
    return circle_out(circle, circle_services.membership_of(current_user, circle))


@blp.route("/circles/<int:circle_id>", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(200, CircleSchema)
def get_circle(circle_id: int) -> dict[str, Any]:
    """A circle: visible to its members, and to everyone if it is public."""
    return circle_out(g.circle, g.membership)


@blp.route("/circles/<int:circle_id>/members", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(MemberAddSchema)
@blp.response(201, MemberAddedSchema)
def add_member(data: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """Add a person: an existing account becomes a member at once; anybody else gets a one-time invitation link
    (returned here, to send to them)."""
    outcome = circle_services.invite_member(
        current_user,
        g.circle,
        email=data["email"],
        roles=data["roles"],
        now=utcnow(),
        valid_days=current_app.config["INVITATION_VALID_DAYS"],
    )
    db.session.commit()
    invitation = None
    if outcome.invitation is not None:
        invitation = {
            "url": external_url("auth.invitation", token=outcome.token),
            "email": outcome.invitation.email,
            "roles": outcome.invitation.roles,
            "expires_at": outcome.invitation.expires_at,
        }
    return {"member": member_out(outcome.membership), "invitation": invitation}


@blp.route("/circles/<int:circle_id>/members/<int:user_id>", methods=["PUT"])
@requires(circle_role("admin"))
@blp.arguments(MemberRolesSchema)
@blp.response(200, MemberUpdatedSchema)
def set_member_roles(data: dict[str, Any], circle_id: int, user_id: int) -> dict[str, Any]:
    """Set a member's roles; an empty list removes them from the circle."""
    membership = circle_services.set_member_roles(current_user, g.circle, user_id, data["roles"])
    db.session.commit()
    return {"member": member_out(membership)}


# --- rounds ---------------------------------------------------------------------------------------------------


#: Where the API's round input names a setting otherwise than the service does.
ROUND_FIELDS_IN_API = {
    "proposals_close_at": ("deadlines", "proposals"),
    "deliberation_close_at": ("deadlines", "deliberation"),
    "deciding_close_at": ("deadlines", "deciding"),
}


def renamed_fields(error: ValidationFailed, names: dict[str, tuple[str, str]]) -> ValidationFailed:
    """Report errors under the names the client sent (`deadlines.proposals`, not `proposals_close_at`)."""
    fields: dict[str, Any] = {}
    for name, messages in error.fields.items():
        if name in names:
            outer, inner = names[name]
            fields.setdefault(outer, {})[inner] = messages
        else:
            fields[name] = messages
    return ValidationFailed(error.message, fields=fields)


def _round_input(data: dict[str, Any]) -> round_services.RoundInput:
    deadlines = data.pop("deadlines") or {}
    return round_services.RoundInput(
        **data,
        proposals_close_at=deadlines.get("proposals"),
        deliberation_close_at=deadlines.get("deliberation"),
        deciding_close_at=deadlines.get("deciding"),
    )


@blp.route("/circles/<int:circle_id>/rounds", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(RoundCreateSchema)
@blp.response(201, RoundSchema)
def create_round(data: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """Create a round in draft. Money in minor units of the circle's currency."""
    try:
        round_ = round_services.create_round(current_user, g.circle, _round_input(data))
    except ValidationFailed as error:
        raise renamed_fields(error, ROUND_FIELDS_IN_API) from None
    db.session.commit()
    return round_out(round_)


@blp.route("/rounds/<int:round_id>", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, RoundSchema)
def get_round(round_id: int) -> dict[str, Any]:
    """A round, its phase, the phases it can move to, and its deadlines."""
    return round_out(round_services.get_round(round_id))


@blp.route("/rounds/<int:round_id>/advance", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(AdvanceSchema)
@blp.response(200, RoundSchema)
def advance_round(data: dict[str, Any], round_id: int) -> dict[str, Any]:
    """Move the round to its next phase, or cancel it before it is decided (admins)."""
    round_ = round_services.advance_round(current_user, round_services.get_round(round_id), data["to"], utcnow())
    db.session.commit()
    return round_out(round_)


def init_api(app: Flask) -> None:
    api = FundCircleApi(
        app,
        spec_kwargs={
            "info": {
                "description": "Personal API tokens are sent as `Authorization: Bearer <token>`. Ids are integers, "
                "money is integer minor units in fields named `*_minor` with `currency` beside them, times are "
                'ISO 8601 UTC, and every error is `{"error": {"code", "message", "fields"}}`.'
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    import fundcircle.api.exports  # noqa: F401
    import fundcircle.api.ledger  # noqa: F401
    import fundcircle.api.payouts  # noqa: F401
    import fundcircle.api.proposals  # noqa: F401  (their operations join the blueprint)
    import fundcircle.api.settings  # noqa: F401
    import fundcircle.api.voting  # noqa: F401

    api.register_blueprint(blp)
    app.extensions["fundcircle-api"] = api
