"""The circles' part of the JSON API: the signed-in user and their circles, circles, members and invitations."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask_login import current_user

from fundcircle.access import ANY_MEMBER, SIGNED_IN, SUPERUSER, circle_role, requires
from fundcircle.auth.models import User
from fundcircle.circles import joining, rotation, services
from fundcircle.circles.models import Circle, Invitation, JoinRequest, Membership, RotationCall
from fundcircle.circles.schemas import (
    CircleCreateSchema,
    CircleSchema,
    CircleSettingsSchema,
    JoinRequestAskSchema,
    JoinRequestDeclineSchema,
    JoinRequestListSchema,
    JoinRequestSchema,
    JoinSettingsOutSchema,
    JoinSettingsSchema,
    MemberAddedSchema,
    MemberAddSchema,
    MemberListSchema,
    MemberRolesSchema,
    MemberSchema,
    MemberUpdatedSchema,
    MeSchema,
    MyJoinRequestSchema,
    PendingInvitationListSchema,
    PendingInvitationSchema,
    RotationCallCreateSchema,
    RotationCallSchema,
    RotationSchema,
)
from fundcircle.db import utcnow
from fundcircle.fields import PageQuerySchema
from fundcircle.i18n import in_language
from fundcircle.mail import external_url, mail_configured, send_mail
from fundcircle.openapi import ANYONE_IF_PUBLIC, api_blueprint
from fundcircle.unit_of_work import after_commit

blp = api_blueprint("circles", __name__, "The signed-in user, circles, their members and invitations")


@blp.route("/me", methods=["GET"])
@requires(SIGNED_IN)
@blp.response(200, MeSchema)
def me() -> User:
    """The signed-in user, their circles and their roles in each."""
    return current_user  # type: ignore[no-any-return]


@blp.route("/circles", methods=["POST"])
@requires(SUPERUSER)
@blp.arguments(CircleCreateSchema)
@blp.response(201, CircleSchema)
def create_circle(data: dict[str, Any]) -> Circle:
    """Create a circle (superusers only); its creator becomes its admin."""
    return services.create_circle(current_user, services.CircleInput(**data))


@blp.route("/circles/<int:circle_id>", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.doc(security=ANYONE_IF_PUBLIC)
@blp.response(200, CircleSchema)
def get_circle(circle_id: int) -> Circle:
    """A circle: visible to its members, and to everyone if it is public."""
    return g.circle  # type: ignore[no-any-return]


@blp.route("/circles/<int:circle_id>", methods=["PATCH"])
@requires(circle_role("admin"))
@blp.arguments(CircleSettingsSchema)
@blp.response(200, CircleSchema)
def update_circle(data: dict[str, Any], circle_id: int) -> Circle:
    """Change the circle's name, description, visibility, time zone, language or payout approvals (admins)."""
    circle: Circle = g.circle
    services.update_circle_settings(
        current_user,
        circle,
        name=data.get("name", circle.name),
        description=data.get("description", circle.description),
        public=data.get("public", circle.public),
        approvals_required=data.get("approvals_required"),
        two_approvals_from_minor=data.get("two_approvals_from_minor", services.KEEP),
        time_zone=data.get("time_zone"),
        language=data.get("language", services.KEEP),
    )
    return circle


@blp.route("/circles/<int:circle_id>/members", methods=["GET"])
@requires(ANY_MEMBER)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, MemberListSchema)
def list_members(query: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """The circle's members and their roles (members only), in user id order, a page at a time."""
    members = services.members_page(g.circle, after=query["after"], limit=query["limit"])
    return {"items": members, "next_after": members[-1].user_id if len(members) == query["limit"] else None}


@blp.route("/circles/<int:circle_id>/members", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(MemberAddSchema)
@blp.response(201, MemberAddedSchema)
def add_member(data: dict[str, Any], circle_id: int) -> services.InviteOutcome:
    """Invite a person by address. The answer is the same whether or not the address has an account: an invitation
    with its one-time link (returned here, to send to them if mail is not set up), which they accept or decline."""
    valid_days = current_app.config["INVITATION_VALID_DAYS"]
    outcome = services.invite_member(
        current_user, g.circle, email=data["email"], roles=data["roles"], now=utcnow(), valid_days=valid_days
    )
    if mail_configured():
        to = outcome.invitation.email
        # In the invited person's language (their account's, else the circle's), not the inviting admin's.
        with in_language(services.invitation_language(g.circle, to)):
            subject, body = services.invitation_mail(
                g.circle, current_user, external_url("circles.invitation", token=outcome.token), valid_days
            )

        def send_invitation() -> None:
            send_mail(to, subject, body)  # a failure is logged; the answer holds the link to pass on instead

        after_commit(send_invitation)
    return outcome


@blp.route("/circles/<int:circle_id>/members/<int:user_id>", methods=["PUT"])
@requires(circle_role("admin"))
@blp.arguments(MemberRolesSchema)
@blp.response(200, MemberUpdatedSchema)
def set_member_roles(data: dict[str, Any], circle_id: int, user_id: int) -> dict[str, Membership | None]:
    """Set a member's roles; an empty list removes them from the circle."""
    return {"member": services.set_member_roles(current_user, g.circle, user_id, data["roles"])}


@blp.route("/invitations/<token>/accept", methods=["POST"])
@requires(SIGNED_IN)
@blp.response(200, MemberSchema)
def accept_invitation(token: str) -> Membership:
    """Join a circle with an invitation made for your address (a newcomer signs up on the invitation's page)."""
    _, membership = services.accept_invitation(token, user=current_user, now=utcnow())
    return membership


@blp.route("/me/invitations", methods=["GET"])
@requires(SIGNED_IN)
@blp.response(200, PendingInvitationListSchema)
def my_invitations() -> dict[str, list[Invitation]]:
    """The invitations waiting for your address's answer."""
    return {"items": services.pending_invitations_for(current_user, utcnow())}


@blp.route("/me/invitations/<int:invitation_id>/accept", methods=["POST"])
@requires(SIGNED_IN)
@blp.response(200, MemberSchema)
def accept_my_invitation(invitation_id: int) -> Membership:
    """Accept an invitation made for your address: you join the circle with its roles."""
    return services.accept_invitation_by_id(current_user, invitation_id, utcnow())


@blp.route("/me/invitations/<int:invitation_id>/decline", methods=["POST"])
@requires(SIGNED_IN)
@blp.response(200, PendingInvitationSchema)
def decline_my_invitation(invitation_id: int) -> Invitation:
    """Decline an invitation made for your address; its link stops working."""
    return services.decline_invitation(current_user, invitation_id, utcnow())


# --- joining by request (circles/joining.py) -----------------------------------------------------------------------


#: Asking needs a person: a public circle lets a visitor read, not ask.
PEOPLE_OF_A_PUBLIC_CIRCLE = circle_role(public_read=True, sign_in_required=True)


@blp.route("/circles/<int:circle_id>/join-settings", methods=["PUT"])
@requires(circle_role("admin"))
@blp.arguments(JoinSettingsSchema)
@blp.response(200, JoinSettingsOutSchema)
def set_join_settings(data: dict[str, Any], circle_id: int) -> dict[str, Any]:
    """Turn requests to join on or off (admins); only a public circle takes them."""
    circle = joining.set_accepts_join_requests(current_user, g.circle, data["accepts_join_requests"])
    return _join_settings(circle)


def _join_settings(circle: Circle) -> dict[str, Any]:
    return {
        "id": circle.id,
        "accepts_join_requests": circle.accepts_join_requests,
        "takes_requests": joining.takes_requests(circle),
    }


@blp.route("/circles/<int:circle_id>/join-requests", methods=["GET"])
@requires(circle_role("admin"))
@blp.response(200, JoinRequestListSchema)
def list_join_requests(circle_id: int) -> dict[str, list[JoinRequest]]:
    """The circle's open requests to join, oldest first (admins)."""
    return {"items": joining.open_requests(current_user, g.circle)}


@blp.route("/circles/<int:circle_id>/join-requests", methods=["POST"])
@requires(PEOPLE_OF_A_PUBLIC_CIRCLE)
@blp.arguments(JoinRequestAskSchema)
@blp.response(201, JoinRequestSchema)
def ask_to_join(data: dict[str, Any], circle_id: int) -> JoinRequest:
    """Ask to join a public circle that takes requests, with a short note (signed in); its admins are told."""
    return joining.ask_to_join(current_user, g.circle, data["note"], utcnow())


@blp.route("/circles/<int:circle_id>/join-requests/mine", methods=["GET"])
@requires(PEOPLE_OF_A_PUBLIC_CIRCLE)
@blp.response(200, MyJoinRequestSchema)
def my_join_request(circle_id: int) -> dict[str, JoinRequest | None]:
    """Your newest request to join this circle, open or answered (with the reason of a decline); null if none."""
    return {"join_request": joining.latest_request_of(current_user, g.circle)}


@blp.route("/circles/<int:circle_id>/join-requests/mine/withdraw", methods=["POST"])
@requires(PEOPLE_OF_A_PUBLIC_CIRCLE)
@blp.response(200, JoinRequestSchema)
def withdraw_my_join_request(circle_id: int) -> JoinRequest:
    """Withdraw your open request to join this circle (signed in)."""
    return joining.withdraw_request(current_user, g.circle, utcnow())


@blp.route("/circles/<int:circle_id>/join-requests/<int:join_request_id>/accept", methods=["POST"])
@requires(circle_role("admin"))
@blp.response(200, MemberSchema)
def accept_join_request(circle_id: int, join_request_id: int) -> Membership:
    """Accept a request (admins): the person joins as a community member and is told."""
    return joining.accept_request(current_user, g.circle, join_request_id, utcnow())


@blp.route("/circles/<int:circle_id>/join-requests/<int:join_request_id>/decline", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(JoinRequestDeclineSchema)
@blp.response(200, JoinRequestSchema)
def decline_join_request(data: dict[str, Any], circle_id: int, join_request_id: int) -> JoinRequest:
    """Decline a request (admins), with an optional reason that only the person sees; they are told."""
    return joining.decline_request(current_user, g.circle, join_request_id, data["reason"], utcnow())


# --- Rotating circles (issue 19) ---


def _rotation(circle: Circle) -> dict[str, Any]:
    drawn = rotation.last_draw(circle)
    entry = rotation.draw_entry_of(circle, drawn) if drawn is not None else None
    return {
        "serving": rotation.serving_terms(circle),
        "open_call": rotation.open_call(circle),
        "last_draw": drawn,
        "last_draw_entry": entry.data if entry is not None else None,
    }


@blp.route("/circles/<int:circle_id>/rotation", methods=["GET"])
@requires(ANY_MEMBER)
@blp.response(200, RotationSchema)
def get_rotation(circle_id: int) -> dict[str, Any]:
    """Who serves as deciding member until when, the open call for volunteers and the last draw (members)."""
    return _rotation(g.circle)


@blp.route("/circles/<int:circle_id>/rotation/calls", methods=["POST"])
@requires(circle_role("admin"))
@blp.arguments(RotationCallCreateSchema)
@blp.response(201, RotationCallSchema)
def open_rotation_call(data: dict[str, Any], circle_id: int) -> RotationCall:
    """Open a call for volunteers (admins); its seed is the circle's ledger head now."""
    return rotation.open_volunteer_call(current_user, g.circle, rotation.CallInput(**data), utcnow())


@blp.route("/circles/<int:circle_id>/rotation/volunteers", methods=["POST"])
@requires(ANY_MEMBER)
@blp.response(200, RotationCallSchema)
def volunteer_for_rotation(circle_id: int) -> RotationCall:
    """Volunteer for the open call (members), until it closes."""
    return rotation.volunteer(current_user, g.circle, utcnow()).call


@blp.route("/circles/<int:circle_id>/rotation/volunteers/me", methods=["DELETE"])
@requires(ANY_MEMBER)
@blp.response(200, RotationCallSchema)
def withdraw_from_rotation(circle_id: int) -> RotationCall:
    """Take your name back from the open call, until it closes."""
    return rotation.withdraw(current_user, g.circle, utcnow())


@blp.route("/circles/<int:circle_id>/rotation/draws", methods=["POST"])
@requires(circle_role("admin"))
@blp.response(200, RotationSchema)
def draw_rotation(circle_id: int) -> dict[str, Any]:
    """Draw the closed call by sortition (admins): the chosen become deciding members for their term."""
    rotation.draw_call(current_user, g.circle, utcnow())
    return _rotation(g.circle)
