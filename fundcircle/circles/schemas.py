from __future__ import annotations

from typing import Any

from flask_login import current_user
from marshmallow import Schema, fields, validate

from fundcircle.circles.models import JOIN_NOTE_MAX, JOIN_REASON_MAX, JOIN_REQUEST_STATUSES, ROLES, Circle, Membership
from fundcircle.circles.services import circles_of, membership_of
from fundcircle.fields import NestedFrom, StrictBoolean, StrictInteger, utc_datetime
from fundcircle.i18n import LANGUAGES
from fundcircle.mail import external_url
from fundcircle.timezones import MAX_TIME_ZONE_LENGTH

ROLE_FIELD = fields.String(validate=validate.OneOf(ROLES))
LANGUAGE_HELP = (
    f"The default language of the circle's pages and e-mails for members who chose none: one of "
    f"{', '.join(LANGUAGES)}; null: each person's browser decides"
)


class CircleCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    slug = fields.String(required=True, validate=validate.Length(min=1, max=60))
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    public = StrictBoolean(load_default=False)
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    time_zone = fields.String(
        load_default="UTC",
        validate=validate.Length(min=1, max=MAX_TIME_ZONE_LENGTH),
        metadata={"description": "An IANA time zone name known to zoneinfo; UTC if not given"},
    )
    language = fields.String(load_default=None, allow_none=True, metadata={"description": LANGUAGE_HELP})


class CircleSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    description = fields.String(required=True)
    currency = fields.String(required=True)
    public = fields.Boolean(required=True)
    approvals_required = fields.Integer(required=True, metadata={"description": "treasurer approvals a payout needs"})
    two_approvals_from_minor = fields.Integer(
        allow_none=True, required=True, metadata={"description": "from this amount up, at least two approvals"}
    )
    time_zone = fields.String(
        required=True,
        metadata={"description": "IANA time zone (e.g. Europe/Berlin) the pages type and show deadlines in; "
                                 "the API's times stay ISO 8601 UTC"},
    )  # fmt: skip
    language = fields.String(allow_none=True, required=True, metadata={"description": LANGUAGE_HELP})
    created_at = fields.DateTime(format="iso", required=True)
    my_roles = fields.Method(
        "_my_roles", required=True, metadata={"type": "array", "items": {"type": "string"},
                                              "description": "Your roles here; empty if none"},
    )  # fmt: skip

    def _my_roles(self, circle: Circle) -> list[str]:
        membership = membership_of(current_user, circle)
        return membership.sorted_roles() if membership is not None else []


class MemberAddSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    roles = fields.List(ROLE_FIELD, required=True, validate=validate.Length(min=1, max=len(ROLES)))


class MemberRolesSchema(Schema):
    roles = fields.List(
        ROLE_FIELD,
        required=True,
        validate=validate.Length(max=len(ROLES)),
        metadata={"description": "An empty list removes the person from the circle"},
    )


class MemberSchema(Schema):
    """A `Membership`."""

    user_id = fields.Integer(required=True)
    name = fields.String(attribute="user.name", required=True)
    email = fields.String(attribute="user.email", required=True)
    roles = fields.Function(
        Membership.sorted_roles, required=True, metadata={"type": "array", "items": {"type": "string"}}
    )
    joined_at = fields.DateTime(format="iso", required=True)


class InvitationSchema(Schema):
    """An `InviteOutcome` that made an invitation."""

    url = fields.Method(
        "_url", required=True, metadata={"type": "string", "description": "The one-time link to send to the person"}
    )
    email = fields.String(attribute="invitation.email", required=True)
    roles = fields.List(fields.String(), attribute="invitation.roles", required=True)
    expires_at = fields.DateTime(attribute="invitation.expires_at", format="iso", required=True)

    def _url(self, outcome: Any) -> str:
        return external_url("circles.invitation", token=outcome.token)


class MemberAddedSchema(Schema):
    """An `InviteOutcome`: the same answer whether or not the address has an account (the person accepts or
    declines the invitation; nobody joins without being asked)."""

    member = fields.Constant(
        None,
        allow_none=True,
        required=True,
        metadata={"description": "Always null: a person joins only by accepting the invitation (kept for clients)"},
    )
    invitation = NestedFrom(InvitationSchema, lambda outcome: outcome, required=True)


class PendingInvitationSchema(Schema):
    """An `Invitation` waiting for the signed-in person's answer."""

    id = fields.Integer(required=True)
    circle_id = fields.Integer(required=True)
    circle_name = fields.String(attribute="circle.name", required=True)
    roles = fields.List(fields.String(), required=True)
    expires_at = fields.DateTime(format="iso", required=True)
    declined_at = fields.DateTime(format="iso", allow_none=True, required=True)


class PendingInvitationListSchema(Schema):
    items = fields.List(fields.Nested(PendingInvitationSchema), required=True)


class MemberUpdatedSchema(Schema):
    member = fields.Nested(MemberSchema, allow_none=True, required=True, metadata={"description": "null if removed"})


class CircleSettingsSchema(Schema):
    """Any of the circle's settings; those not given keep their value. The currency never changes."""

    name = fields.String(validate=validate.Length(min=1, max=80))
    description = fields.String(validate=validate.Length(max=5000))
    public = StrictBoolean()
    approvals_required = StrictInteger(validate=validate.Range(min=1, max=5))
    two_approvals_from_minor = StrictInteger(allow_none=True, validate=validate.Range(min=1))
    time_zone = fields.String(
        validate=validate.Length(min=1, max=MAX_TIME_ZONE_LENGTH),
        metadata={"description": "An IANA time zone name known to zoneinfo, e.g. Europe/Berlin or America/New_York: "
                                 "round deadlines are typed and shown in it on the pages, stored in UTC"},
    )  # fmt: skip
    # Checked by the service (fundcircle.i18n.check_language), so that the refusal is on this field in words.
    language = fields.String(allow_none=True, metadata={"description": LANGUAGE_HELP})


class MemberListSchema(Schema):
    items = fields.List(fields.Nested(MemberSchema), required=True)
    next_after = fields.Integer(allow_none=True, required=True, metadata={"description": "pass as `after` for more"})


class MyCircleSchema(Schema):
    """One of the user's `Membership`s."""

    id = fields.Integer(attribute="circle.id", required=True)
    name = fields.String(attribute="circle.name", required=True)
    slug = fields.String(attribute="circle.slug", required=True)
    currency = fields.String(attribute="circle.currency", required=True)
    public = fields.Boolean(attribute="circle.public", required=True)
    roles = fields.Function(
        Membership.sorted_roles, required=True, metadata={"type": "array", "items": {"type": "string"}}
    )


class MeSchema(Schema):
    """The signed-in `User`, with their circles."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    is_superuser = fields.Boolean(required=True)
    created_at = fields.DateTime(format="iso", required=True)
    circles = NestedFrom(
        MyCircleSchema, lambda user: [membership for _, membership in circles_of(user)], many=True, required=True
    )


# --- joining by request (circles/joining.py) -----------------------------------------------------------------------


class JoinRequestAskSchema(Schema):
    note = fields.String(
        load_default="",
        validate=validate.Length(max=JOIN_NOTE_MAX),
        metadata={"description": "A short note to the circle's admins, plain text"},
    )


class JoinRequestDeclineSchema(Schema):
    reason = fields.String(
        load_default="",
        validate=validate.Length(max=JOIN_REASON_MAX),
        metadata={"description": "Optional; shown only to the person who asked"},
    )


class JoinSettingsSchema(Schema):
    accepts_join_requests = StrictBoolean(
        required=True, metadata={"description": "A public circle then takes requests to join"}
    )


class JoinSettingsOutSchema(Schema):
    """A `Circle`'s setting for requests to join."""

    circle_id = fields.Integer(attribute="id", required=True)
    accepts_join_requests = fields.Boolean(required=True)
    takes_requests = fields.Boolean(
        required=True, metadata={"description": "Whether people can ask now: the circle is public and takes them"}
    )


class JoinRequestSchema(Schema):
    """A `JoinRequest`."""

    id = fields.Integer(required=True)
    circle_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    name = fields.String(attribute="user.name", required=True)
    note = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(JOIN_REQUEST_STATUSES)})
    created_at = fields.DateTime(format="iso", required=True)
    answered_at = fields.DateTime(format="iso", allow_none=True, required=True)
    reason = fields.String(required=True, metadata={"description": "The reason given with a decline, if any"})


class JoinRequestListSchema(Schema):
    items = fields.List(fields.Nested(JoinRequestSchema), required=True)


class MyJoinRequestSchema(Schema):
    join_request = fields.Nested(
        JoinRequestSchema, allow_none=True, required=True, metadata={"description": "null if you never asked"}
    )


# --- Rotating circles (issue 19) ---


class RotationCallCreateSchema(Schema):
    seats = StrictInteger(required=True, validate=validate.Range(min=1, max=50))
    term_days = StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "days each serves (give this or term_rounds)"},
    )
    term_rounds = StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=12),
        metadata={"description": "each serves until this many of the circle's rounds have closed (or term_days)"},
    )
    closes_at = utc_datetime(required=True, metadata={"description": "volunteers can sign up until then"})
    newcomer_share_percent = StrictInteger(
        load_default=0,
        validate=validate.OneOf([0, 34, 50, 100]),
        metadata={"description": "at least this share of those drawn have not served before (if enough volunteer)"},
    )


class RotationVolunteerSchema(Schema):
    user_id = fields.Integer(required=True)
    name = fields.String(attribute="user.name", required=True)
    volunteered_at = fields.DateTime(format="iso", required=True)


class RotationCallSchema(Schema):
    """A `RotationCall`: open (drawn_at null) or drawn."""

    id = fields.Integer(required=True)
    seats = fields.Integer(required=True)
    term_days = fields.Integer(required=True, allow_none=True)
    term_rounds = fields.Integer(required=True, allow_none=True)
    newcomer_share_percent = fields.Integer(required=True)
    opened_at = fields.DateTime(format="iso", required=True)
    closes_at = fields.DateTime(format="iso", required=True)
    seed = fields.String(required=True, metadata={"description": "the ledger head hash when the call opened"})
    drawn_at = fields.DateTime(format="iso", allow_none=True, required=True)
    draw_seq = fields.Integer(
        allow_none=True, required=True, metadata={"description": "the ledger entry holding the draw and its inputs"}
    )
    volunteers = fields.List(fields.Nested(RotationVolunteerSchema), required=True)


class RotationTermSchema(Schema):
    user_id = fields.Integer(required=True)
    name = fields.String(attribute="user.name", required=True)
    starts_at = fields.DateTime(format="iso", required=True)
    ends_at = fields.DateTime(format="iso", required=True, allow_none=True, metadata={"description": "null: in rounds"})
    term_rounds = fields.Integer(required=True, allow_none=True)
    rounds_closed = fields.Integer(
        required=True, metadata={"description": "rounds closed so far, for a term in rounds"}
    )


class RotationSchema(Schema):
    """Who serves until when, the open call and the last draw (with its ledger entry's data)."""

    serving = fields.List(fields.Nested(RotationTermSchema), required=True)
    open_call = fields.Nested(RotationCallSchema, allow_none=True, required=True)
    last_draw = fields.Nested(RotationCallSchema, allow_none=True, required=True)
    last_draw_entry = fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "the draw's ledger entry data: `python -m fundcircle.circles.sortition` re-runs it"},
    )
