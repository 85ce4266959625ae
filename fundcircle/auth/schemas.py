from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundcircle.fields import StrictBoolean
from fundcircle.i18n import LANGUAGES
from fundcircle.notices import DELIVERY_MODES, NOTICE_KINDS
from fundcircle.timezones import MAX_TIME_ZONE_LENGTH


class TokenCreateSchema(Schema):
    name = fields.String(required=True, metadata={"description": "What will use it"})


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "The token's first characters"})
    created_at = fields.DateTime(format="iso", required=True)
    last_used_at = fields.DateTime(
        format="iso",
        allow_none=True,
        required=True,
        metadata={"description": "When the token last made a state-changing request; reads leave it as it is."},
    )
    revoked_at = fields.DateTime(format="iso", allow_none=True, required=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "Shown this once; only its hash is kept"})


class TokenListSchema(Schema):
    items = fields.List(fields.Nested(TokenSchema), required=True)


class NoticesSchema(Schema):
    email_notices = StrictBoolean(required=True)


class NoticePreferencesSchema(Schema):
    preferences = fields.Dict(
        keys=fields.String(validate=validate.OneOf(NOTICE_KINDS)),
        values=fields.String(validate=validate.OneOf(DELIVERY_MODES)),
        required=True,
        metadata={
            "description": "How you hear of each kind of notice: immediate (e-mail at once), daily or weekly "
            "(a digest), or inbox (no mail). A PUT may name only the kinds it changes."
        },
    )


class TotpStartSchema(Schema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=1000), load_only=True)


class TotpSecretSchema(Schema):
    secret = fields.String(required=True, metadata={"description": "base32; shown once"})
    otpauth_uri = fields.String(required=True)


class TotpConfirmSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=10))


class TotpStatusSchema(Schema):
    enabled = fields.Boolean(required=True)


LANGUAGE_DESCRIPTION = (
    "The language of your pages and e-mails: one of " + ", ".join(LANGUAGES) + "; null: your circle's language, "
    "else your browser's (Accept-Language)."
)
TIME_ZONE_DESCRIPTION = (
    "The IANA time zone times are shown to you in, such as Europe/Berlin; null: each circle's own zone. Times in "
    "the API are in UTC whatever it is."
)


class AccountChangeSchema(Schema):
    """What a PATCH changes; a field left out keeps its value."""

    name = fields.String(validate=validate.Length(min=1, max=80))
    # Checked by the services (fundcircle/i18n.py, fundcircle/timezones.py), whose messages say what is known.
    language = fields.String(
        allow_none=True, validate=validate.Length(max=8), metadata={"description": LANGUAGE_DESCRIPTION}
    )
    time_zone = fields.String(
        allow_none=True,
        validate=validate.Length(max=MAX_TIME_ZONE_LENGTH),
        metadata={"description": TIME_ZONE_DESCRIPTION},
    )


class AccountSchema(Schema):
    """The signed-in `User`'s own account details."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    language = fields.String(
        required=True, allow_none=True, metadata={"enum": list(LANGUAGES), "description": LANGUAGE_DESCRIPTION}
    )
    time_zone = fields.String(required=True, allow_none=True, metadata={"description": TIME_ZONE_DESCRIPTION})


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1000), load_only=True)
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=1000), load_only=True, metadata={"description": "new"}
    )


class SessionsEndedSchema(Schema):
    sessions_ended = fields.Integer(required=True, metadata={"description": "How many other sessions ended"})


class EmailChangeSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1000), load_only=True)


class EmailChangePendingSchema(Schema):
    pending_email = fields.String(
        required=True, metadata={"description": "The address changes once the link e-mailed to it is opened"}
    )


class ResetRequestSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))


class MessageSchema(Schema):
    message = fields.String(required=True)


class ResetPasswordSchema(Schema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=1000), load_only=True)
