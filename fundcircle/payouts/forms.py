"""Forms of the treasury pages: shape only; the services check the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Length

from fundcircle.auth.forms import totp_code_field
from fundcircle.payouts.models import REQUESTABLE_EXPENSE_TYPES

EXPENSE_TYPE_LABELS = {
    "GRANT": "Grant (recommended)",
    "INVOICE": "Invoice",
}


class ConnectForm(FlaskForm):
    api_url = URLField(
        "Open Collective API address",
        validators=[DataRequired(), Length(max=300)],
        description="Open Collective's own is filled in; its staging site has another address.",
    )
    slug = StringField(
        "Collective's slug",
        validators=[DataRequired(), Length(max=100)],
        description="The last part of the collective's address, e.g. riverside-circle for "
        "opencollective.com/riverside-circle.",
    )
    token = PasswordField(
        "Personal token",
        validators=[DataRequired(), Length(max=400)],
        description="Made by one of the collective's admins in their Open Collective settings (For developers → "
        "Personal tokens), with the expenses scope. It is stored encrypted and never shown again.",
    )
    expense_type = SelectField(
        "Request payouts as",
        choices=[SelectChoice(kind, EXPENSE_TYPE_LABELS[kind]) for kind in REQUESTABLE_EXPENSE_TYPES],
        default="GRANT",
        description="Grants suit a fund; if the collective does not accept them, choose Invoice. (Receipts need a "
        "file on every item, which a grant does not have, so Fund Circle does not offer them.)",
    )


class ApproveForm(FlaskForm):
    totp = totp_code_field("Code from your authenticator app")
    confirm_beyond_balance = BooleanField("Approve it although the collective's balance does not cover it")


class CancelForm(FlaskForm):
    reason = TextAreaField(
        "Why cancel it?",
        validators=[DataRequired(message="Say why the payout is cancelled."), Length(max=1000)],
        description="The circle reads this in the ledger.",
    )
