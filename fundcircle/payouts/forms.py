"""Forms of the treasury pages: shape only; the services check the rules."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, Length, ValidationError

from fundcircle.auth.forms import totp_code_field
from fundcircle.i18n import lazy_gettext
from fundcircle.payouts.models import REQUESTABLE_EXPENSE_TYPES, STATUS_LABELS
from fundcircle.payouts.services import FILTER_STATUSES

EXPENSE_TYPE_LABELS = {
    "GRANT": lazy_gettext("Grant (recommended)"),
    "INVOICE": lazy_gettext("Invoice"),
}


class ConnectForm(FlaskForm):
    api_url = URLField(
        lazy_gettext("Open Collective API address"),
        validators=[DataRequired(), Length(max=300)],
        description=lazy_gettext("Open Collective's own is filled in; its staging site has another address."),
    )
    slug = StringField(
        lazy_gettext("Collective's slug"),
        validators=[DataRequired(), Length(max=100)],
        description=lazy_gettext(
            "The last part of the collective's address, e.g. riverside-circle for opencollective.com/riverside-circle."
        ),
    )
    token = PasswordField(
        lazy_gettext("Personal token"),
        validators=[DataRequired(), Length(max=400)],
        description=lazy_gettext(
            "Made by one of the collective's admins in their Open Collective settings (For developers → "
            "Personal tokens), with the expenses scope. It is stored encrypted and never shown again."
        ),
    )
    expense_type = SelectField(
        lazy_gettext("Request payouts as"),
        choices=[SelectChoice(kind, EXPENSE_TYPE_LABELS[kind]) for kind in REQUESTABLE_EXPENSE_TYPES],
        default="GRANT",
        description=lazy_gettext(
            "Grants suit a fund; if the collective does not accept them, choose Invoice. (Receipts need a "
            "file on every item, which a grant does not have, so Fund Circle does not offer them.)"
        ),
    )


class ApproveForm(FlaskForm):
    totp = totp_code_field(lazy_gettext("Code from your authenticator app"))
    confirm_beyond_balance = BooleanField(
        lazy_gettext("Approve it although the collective's balance does not cover it")
    )


class CancelForm(FlaskForm):
    reason = TextAreaField(
        lazy_gettext("Why cancel it?"),
        validators=[DataRequired(message=lazy_gettext("Say why the payout is cancelled.")), Length(max=1000)],
        description=lazy_gettext("The circle reads this in the ledger."),
    )


class ChosenPayouts(Field):
    """The payouts ticked in the treasury's list (checkboxes named after the field, each holding a payout's id)."""

    data: list[int]

    def process_formdata(self, valuelist: list[Any]) -> None:
        chosen = []
        for value in valuelist:
            try:
                payout_id = int(value)
            except (TypeError, ValueError):
                raise ValueError(gettext("Tick payouts from the list.")) from None
            if not 0 < payout_id < 2**31:
                raise ValueError(gettext("Tick payouts from the list."))
            chosen.append(payout_id)
        self.data = chosen

    def pre_validate(self, form: Any) -> None:
        if not self.data:
            raise ValidationError(gettext("Tick the payouts to approve: none was chosen."))


class ApproveManyForm(FlaskForm):
    """Several payouts approved with one code (the treasury's list)."""

    payouts = ChosenPayouts(lazy_gettext("Payouts to approve"), default=list)
    totp = totp_code_field(lazy_gettext("Code from your authenticator app"))
    confirm_beyond_balance = BooleanField(
        lazy_gettext("Approve them although the collective's balance does not cover them")
    )


class TreasuryFilterForm(FlaskForm):
    """Which payouts the treasury lists: a GET form, so that the address can be kept and shared (no CSRF token:
    it changes nothing)."""

    class Meta:
        csrf = False

    round_id = SelectField(lazy_gettext("Round"), coerce=int, default=0, validate_choice=True)
    status = SelectField(
        lazy_gettext("Status"),
        choices=[SelectChoice("", lazy_gettext("Any status"))]
        + [SelectChoice(status, lazy_gettext(STATUS_LABELS[status])) for status in FILTER_STATUSES],
        default="",
    )
